"""Latent personas of the embedded world: life stage x interest x price sensitivity.

A persona is the *shared* part of a user's preferences — what a good semantic group should
recover. It drives category affinity (clicks, purchases, searches), static attributes (age,
gender, occupation, city tier, consumption level) and price preference. It is saved as ground
truth for judging groups (NMI / purity) and is never a model feature.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from choirrec.data.taxonomy import LEAF_BY_NAME, LEAVES, leaves_of

# Life stage -> (age range, occupations, core leaves, interests available at that stage)
LIFE_STAGES: dict[str, dict] = {
    "student": {
        "age": (18, 23),
        "occupations": ["student"],
        "core": ["snacks", "instant noodles", "stationery", "exam prep books", "backpacks",
                 "wireless earbuds", "power banks", "contact lenses"],
        "interests": ["fashion_beauty", "tech_gaming", "outdoor_sports", "reading_arts"],
    },
    "young_professional": {
        "age": (24, 32),
        "occupations": ["engineer", "office worker", "designer", "sales"],
        "core": ["coffee beans", "laptops", "luggage", "smart home", "wireless earbuds",
                 "business books", "storage boxes", "perfume"],
        "interests": ["fashion_beauty", "menswear_style", "tech_gaming", "pet_lover"],
    },
    "new_parent": {
        "age": (26, 36),
        "occupations": ["office worker", "teacher", "engineer", "homemaker"],
        "core": ["infant formula", "diapers", "baby stroller", "baby clothing", "feeding bottles",
                 "maternity wear", "baby skincare", "kids toys", "child car seats"],
        "interests": ["home_cooking", "fashion_beauty", "car_enthusiast", "foodie"],
    },
    "established_family": {
        "age": (35, 52),
        "occupations": ["civil servant", "teacher", "business owner", "office worker", "doctor"],
        "core": ["children's books", "rice cookers", "washing machines", "bedding", "sofas",
                 "fresh fruit", "water purifiers", "vitamins"],
        "interests": ["home_cooking", "car_enthusiast", "outdoor_sports", "foodie"],
    },
    "retiree": {
        "age": (58, 75),
        "occupations": ["retired"],
        "core": ["tea", "herbal tonics", "blood pressure monitors", "reading glasses",
                 "mobility aids", "massagers", "organic grains", "calligraphy"],
        "interests": ["foodie", "reading_arts", "pet_lover", "outdoor_sports"],
    },
}

# Interest theme -> (leaves, probability that a member is female)
INTERESTS: dict[str, tuple[list[str], float]] = {
    "fashion_beauty": (leaves_of("Women's Apparel", "Beauty")
                       + ["handbags", "women's sandals"], 0.85),
    "menswear_style": (leaves_of("Men's Apparel")
                       + ["men's sneakers", "leather boots", "wallets", "men's grooming"], 0.1),
    "tech_gaming": (leaves_of("Computers & Gaming")
                    + ["smartphones", "wireless earbuds", "smartwatches", "tablets"], 0.25),
    "outdoor_sports": (leaves_of("Sports & Outdoors")
                       + ["trail running shoes", "outdoor jackets", "protein powder"], 0.4),
    "home_cooking": (["air fryers", "rice cookers", "coffee machines", "kitchenware",
                      "condiments", "home decor", "storage boxes", "robot vacuums"], 0.6),
    "pet_lover": (leaves_of("Pets"), 0.6),
    "foodie": (leaves_of("Food & Grocery"), 0.55),
    "car_enthusiast": (leaves_of("Automotive"), 0.2),
    "reading_arts": (leaves_of("Books & Stationery") + ["cameras"], 0.55),
}

PRICE_SENSITIVITY = ("budget", "premium")
PRICE_PREFERENCE = {"budget": 0.25, "premium": 0.8}  # preferred price tier in [0, 1]


@dataclass(frozen=True)
class Persona:
    persona_id: int  # 1-based
    life_stage: str
    interest: str
    price: str

    @property
    def name(self) -> str:
        return f"{self.life_stage}/{self.interest}/{self.price}"


PERSONAS: tuple[Persona, ...] = tuple(
    Persona(i + 1, stage, interest, price)
    for i, (stage, interest, price) in enumerate(
        (s, it, p) for s, spec in LIFE_STAGES.items() for it in spec["interests"]
        for p in PRICE_SENSITIVITY
    )
)


def affinity_matrix(seed: int, core_weight: float = 2.0, interest_weight: float = 2.5,
                    background: float = -1.0, jitter: float = 0.3) -> np.ndarray:
    """Persona x leaf affinity logits, shape (n_personas, n_leaves).

    Deterministic for a seed, so every Ray task generating a block of users sees the same
    world. Column j is category_id j + 1.
    """
    rng = np.random.default_rng([seed, 7919])
    aff = np.full((len(PERSONAS), len(LEAVES)), background, dtype=np.float64)
    for p in PERSONAS:
        for name in LIFE_STAGES[p.life_stage]["core"]:
            aff[p.persona_id - 1, LEAF_BY_NAME[name].category_id - 1] += core_weight
        for name in INTERESTS[p.interest][0]:
            aff[p.persona_id - 1, LEAF_BY_NAME[name].category_id - 1] += interest_weight
    return aff + rng.normal(0.0, jitter, size=aff.shape)
