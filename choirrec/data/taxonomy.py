"""The embedded world's category taxonomy: 15 top-level (L1) categories, 120 leaves.

Human-readable names matter: the semantic-profile stage writes them into LLM prompts, and
the whole point of ChoirRec is that an LLM can generalise from "infant formula" and
"baby stroller" to "new parent". Each leaf carries a median price (CNY) and a small search
vocabulary from which noisy user queries are drawn.
"""

from __future__ import annotations

from dataclasses import dataclass

# L1 | leaf | median price | query terms (';'-separated)
_TAXONOMY = """
Mother & Baby|infant formula|220|infant formula;baby milk powder;stage 1 formula
Mother & Baby|diapers|120|diapers;newborn nappies;pull-up pants
Mother & Baby|baby stroller|900|baby stroller;lightweight pram;travel stroller
Mother & Baby|baby clothing|80|baby romper;newborn clothes;baby onesie
Mother & Baby|feeding bottles|90|feeding bottle;anti colic bottle;bottle sterilizer
Mother & Baby|maternity wear|150|maternity dress;pregnancy pillow;maternity jeans
Mother & Baby|baby skincare|60|baby lotion;diaper cream;baby shampoo
Mother & Baby|kids toys|120|educational toys;toddler toys;stacking blocks
Women's Apparel|summer dresses|180|summer dress;floral dress;beach dress
Women's Apparel|knitwear|220|cardigan;knit sweater;cashmere sweater
Women's Apparel|women's jeans|160|high waist jeans;wide leg jeans;skinny jeans
Women's Apparel|blouses|120|chiffon blouse;silk shirt;office blouse
Women's Apparel|women's coats|480|wool coat;down jacket women;trench coat
Women's Apparel|lingerie|90|bra;seamless underwear;silk pajamas
Women's Apparel|sportswear women|150|yoga pants;sports bra;running tights
Women's Apparel|hanfu|260|hanfu;traditional dress;qipao
Men's Apparel|men's t-shirts|70|cotton t-shirt;graphic tee;polo shirt
Men's Apparel|men's jackets|380|bomber jacket;windbreaker;men down jacket
Men's Apparel|men's jeans|180|slim fit jeans;straight jeans men;denim
Men's Apparel|suits & blazers|900|business suit;blazer men;wedding suit
Men's Apparel|men's underwear|60|boxer briefs;cotton socks;thermal underwear
Men's Apparel|men's shirts|150|oxford shirt;formal shirt;linen shirt
Men's Apparel|outdoor jackets|650|hardshell jacket;rain jacket;fleece jacket
Men's Apparel|men's sportswear|140|running shorts;track suit;gym shirt
Shoes & Bags|trail running shoes|560|trail running shoes;hiking shoes;running shoes
Shoes & Bags|women's sandals|160|sandals;strappy sandals;slippers
Shoes & Bags|men's sneakers|480|sneakers men;basketball shoes;white sneakers
Shoes & Bags|leather boots|620|leather boots;chelsea boots;ankle boots
Shoes & Bags|handbags|700|handbag;tote bag;crossbody bag
Shoes & Bags|backpacks|260|backpack;laptop backpack;school bag
Shoes & Bags|wallets|180|leather wallet;card holder;coin purse
Shoes & Bags|luggage|650|suitcase;carry on luggage;travel bag
Beauty|lipstick|180|lipstick;lip tint;matte lipstick
Beauty|foundation|260|foundation;cushion foundation;concealer
Beauty|skincare serum|380|serum;vitamin c serum;anti aging essence
Beauty|sunscreen|120|sunscreen;spf50;sun cream
Beauty|facial masks|90|sheet mask;face mask;hydrating mask
Beauty|perfume|560|perfume;eau de parfum;fragrance
Beauty|hair care|80|shampoo;hair conditioner;hair oil
Beauty|men's grooming|150|electric shaver;face wash men;beard trimmer
Electronics|smartphones|3800|smartphone;5g phone;new phone
Electronics|laptops|6200|laptop;ultrabook;notebook computer
Electronics|wireless earbuds|480|wireless earbuds;noise cancelling earphones;bluetooth headset
Electronics|smartwatches|1500|smartwatch;fitness band;sports watch
Electronics|cameras|5200|mirrorless camera;action camera;camera lens
Electronics|tablets|2800|tablet;drawing tablet;e-reader
Electronics|power banks|130|power bank;fast charger;usb c cable
Electronics|smart home|260|smart speaker;smart bulb;security camera
Computers & Gaming|mechanical keyboards|420|mechanical keyboard;gaming keyboard;keycaps
Computers & Gaming|gaming mice|260|gaming mouse;wireless mouse;mouse pad
Computers & Gaming|game consoles|2600|game console;switch console;handheld console
Computers & Gaming|monitors|1600|4k monitor;gaming monitor;curved monitor
Computers & Gaming|graphics cards|4500|graphics card;gpu;rtx card
Computers & Gaming|video games|260|video game;game cartridge;game card
Computers & Gaming|gaming chairs|1200|gaming chair;ergonomic chair;racing chair
Computers & Gaming|pc accessories|150|usb hub;docking station;webcam
Home Appliances|air fryers|400|air fryer;oil free fryer;smart fryer
Home Appliances|robot vacuums|2200|robot vacuum;sweeping robot;mopping robot
Home Appliances|air purifiers|1300|air purifier;hepa filter;dehumidifier
Home Appliances|rice cookers|500|rice cooker;ih rice cooker;pressure cooker
Home Appliances|coffee machines|1800|espresso machine;coffee maker;capsule coffee machine
Home Appliances|hair dryers|450|hair dryer;ionic dryer;hair straightener
Home Appliances|washing machines|3200|washing machine;washer dryer;mini washer
Home Appliances|water purifiers|1600|water purifier;water filter;instant hot water
Home & Furniture|bedding|320|duvet;bed sheets;memory foam pillow
Home & Furniture|storage boxes|60|storage box;closet organizer;vacuum bags
Home & Furniture|office chairs|900|office chair;ergonomic chair;desk chair
Home & Furniture|sofas|4200|sofa;sectional couch;sofa bed
Home & Furniture|lighting|220|desk lamp;led ceiling light;night light
Home & Furniture|curtains|180|blackout curtains;sheer curtains;curtain rod
Home & Furniture|kitchenware|160|nonstick pan;knife set;cast iron skillet
Home & Furniture|home decor|120|wall art;vase;scented candle
Food & Grocery|snacks|40|snacks;spicy strips;nuts gift box
Food & Grocery|tea|160|green tea;pu erh tea;oolong tea
Food & Grocery|coffee beans|110|coffee beans;drip coffee;instant coffee
Food & Grocery|instant noodles|35|instant noodles;self heating hot pot;river snail noodles
Food & Grocery|fresh fruit|90|cherries;durian;mango
Food & Grocery|organic grains|70|organic rice;oats;millet
Food & Grocery|condiments|30|soy sauce;chili oil;hot pot base
Food & Grocery|wine & spirits|320|red wine;baijiu;craft beer
Health|vitamins|160|multivitamin;fish oil;vitamin d
Health|protein powder|280|whey protein;plant protein;creatine
Health|blood pressure monitors|220|blood pressure monitor;glucose meter;thermometer
Health|massagers|360|massage gun;neck massager;foot massager
Health|reading glasses|120|reading glasses;presbyopia glasses;magnifier
Health|mobility aids|260|walking cane;knee brace;lumbar support
Health|herbal tonics|240|ginseng;goji berries;bird nest
Health|contact lenses|110|contact lenses;colored contacts;lens solution
Sports & Outdoors|yoga mats|120|yoga mat;yoga block;pilates ring
Sports & Outdoors|camping tents|680|camping tent;sleeping bag;camping chair
Sports & Outdoors|fishing gear|420|fishing rod;fishing reel;fishing lure
Sports & Outdoors|cycling gear|900|road bike;cycling helmet;bike light
Sports & Outdoors|dumbbells|260|dumbbells;kettlebell;resistance bands
Sports & Outdoors|hiking backpacks|420|hiking backpack;trekking poles;hydration pack
Sports & Outdoors|swimwear|150|swimsuit;swim goggles;swim cap
Sports & Outdoors|badminton & tennis|280|badminton racket;tennis racket;shuttlecock
Books & Stationery|children's books|60|picture books;kids encyclopedia;bedtime stories
Books & Stationery|exam prep books|70|exam prep;gaokao workbook;ielts book
Books & Stationery|novels|45|novel;science fiction book;bestseller
Books & Stationery|stationery|30|gel pens;notebook;highlighters
Books & Stationery|art supplies|90|watercolor set;sketchbook;acrylic paint
Books & Stationery|business books|60|business book;investing book;self help book
Books & Stationery|calligraphy|110|calligraphy brush;ink stick;rice paper
Books & Stationery|language learning|150|english course;japanese textbook;dictionary
Pets|cat food|160|cat food;kitten food;freeze dried cat treats
Pets|dog food|200|dog food;puppy food;dog treats
Pets|cat litter|70|cat litter;tofu litter;litter box
Pets|pet toys|50|cat toy;dog chew toy;cat tree
Pets|aquarium supplies|180|aquarium;fish tank filter;aquarium plants
Pets|pet grooming|120|pet shampoo;pet brush;nail clipper pet
Pets|pet beds|150|cat bed;dog bed;pet blanket
Pets|pet health|130|pet deworming;pet vitamins;flea collar
Automotive|car phone mounts|60|car phone holder;magnetic mount;car charger
Automotive|dash cams|480|dash cam;driving recorder;rear camera
Automotive|car cleaning|80|car wash kit;car wax;microfiber towel
Automotive|car seat covers|300|car seat cover;steering wheel cover;car floor mats
Automotive|child car seats|1100|child car seat;booster seat;isofix seat
Automotive|car electronics|350|car vacuum;tire inflator;jump starter
Automotive|motorcycle gear|520|motorcycle helmet;riding gloves;riding jacket
Automotive|car fragrance|50|car air freshener;car perfume;vent clip
"""


@dataclass(frozen=True)
class Leaf:
    """A leaf category: the unit of purchase behaviour and of a CVR sample's category_id."""

    category_id: int  # 1-based; 0 is the padding id everywhere in the project
    name: str
    l1: str
    median_price: float
    query_terms: tuple[str, ...]


def _parse() -> tuple[Leaf, ...]:
    leaves = []
    for line in _TAXONOMY.strip().splitlines():
        l1, name, price, terms = line.split("|")
        leaves.append(
            Leaf(len(leaves) + 1, name, l1, float(price), tuple(t.strip() for t in terms.split(";")))
        )
    return tuple(leaves)


LEAVES: tuple[Leaf, ...] = _parse()
L1_NAMES: tuple[str, ...] = tuple(dict.fromkeys(leaf.l1 for leaf in LEAVES))
LEAF_BY_NAME: dict[str, Leaf] = {leaf.name: leaf for leaf in LEAVES}


def leaves_of(*l1: str) -> list[str]:
    """Leaf names under the given L1 categories (used to declare persona interests compactly)."""
    missing = set(l1) - set(L1_NAMES)
    if missing:
        raise KeyError(f"unknown L1 categories {sorted(missing)}; known: {L1_NAMES}")
    return [leaf.name for leaf in LEAVES if leaf.l1 in l1]
