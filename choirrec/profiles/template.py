"""The ``template`` backend: a deterministic renderer of the same facts, in the same sections.

It is not an LLM and is named as what it is everywhere (``backend = "template"``): it cannot
generalise ("infant formula" -> "a parent"), but it puts attributes, interests and price
behaviour into words an embedding model can place, it is fast enough for millions of users
on a laptop, and it is the fallback when an LLM's answer stays malformed.
"""

from __future__ import annotations

from collections import Counter

from choirrec.profiles.prompt import SECTIONS

MODEL = "template-v2"


def _identity(a: dict) -> str:
    bits = []
    if "gender" in a:
        bits.append(str(a["gender"]))
    if "age_band" in a:
        bits.append(f"aged {a['age_band']}")
    elif "age" in a:
        bits.append(f"aged {a['age']:g}")
    if "occupation" in a:
        bits.append(f"working as {a['occupation']}")
    if "city_tier" in a:
        bits.append(f"living in a tier-{a['city_tier']} city")
    if not bits:
        return "A shopper whose static attributes are unknown."
    return "A " + ", ".join(bits) + " shopper."


def render(facts: dict) -> str:
    """Three paragraphs, deterministic for the same facts."""
    a = facts["attributes"]
    windows = facts["purchases"]
    l1 = Counter()
    cats = Counter()
    tiers = Counter()
    for w in windows:
        for c in w["categories"]:
            cats[c["category"]] += c["count"]
            if c.get("l1"):
                l1[c["l1"]] += c["count"]
            if c["price_tier"] != "unknown":
                tiers[c["price_tier"]] += c["count"]
    inferred = facts.get("inferred") or []
    guessed = [c["category"] for c in inferred]
    if cats or inferred:
        # Inferred categories complete the list in a buyer's words, so the embedding places a
        # sparse user among the buyers it resembles rather than among other sparse users.
        for c in inferred:
            if c.get("l1"):
                l1[c["l1"]] += 0.5
        top = [k for k, _ in cats.most_common(5)] + guessed
        interests = (f"Buys mostly in {', '.join(k for k, _ in l1.most_common(3))}; "
                     if l1 else "")
        interests += "top categories: " + ", ".join(top)
        if not guessed:
            interests += "."
        elif cats:
            interests += f" (the last {len(guessed)} inferred from similar shoppers)."
        else:
            interests += " (inferred from similar shoppers; no purchases on record)."
        recent = [c["category"] for c in windows[0]["categories"]][:4] if windows else []
        if recent:
            interests += " Recently: " + ", ".join(recent) + "."
    else:
        interests = "No purchases on record."
    if facts["searches"]:
        interests += " Searches for " + ", ".join(facts["searches"][:6]) + "."
    n = facts["n_purchases"]
    level = a.get("consumption_level")
    philosophy = (f"{n} purchases in the last year" if n else
                  "Price preference not yet known" if inferred else "No purchase history yet")
    if tiers:
        philosophy += f", mostly {tiers.most_common(1)[0][0]}-priced items"
    if level is not None:
        philosophy += f"; consumption level {level} of 5"
    philosophy += "."
    return "\n".join(f"{s}: {t}" for s, t in zip(SECTIONS, (_identity(a), interests, philosophy),
                                                 strict=True))
