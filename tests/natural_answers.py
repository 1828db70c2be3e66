"""Realistic support answers (prose, numbered and bulleted lists, paragraphs, sign-offs) for
testing edits against the naturalness standard; plants make every atom of the fixtures hold
on some of them. Imported as a plain module from tests/."""

from __future__ import annotations

import random

from hypothesis import strategies as st

SENTENCES = [
    "Thanks for reaching out.", "You can return most items within 30 days.", "Refunds usually take five business days.",
    "Our team is happy to help.", "Please keep your receipt.", "The warranty covers manufacturing defects.",
    "Globex sells a similar model.", "Email help@acme.example for details.", "Call 555-123-4567 any weekday.",
    "I'm sorry, but I can't help with that.", "See https://acme.example/x for the full policy.",
    "Your order ships today.", "We offer a money back guarantee.", "Sure, here is what to do.",
    "ACME blenders come with two lids.", "Order #12345 is on its way.", "Is anything else broken?",
    "That is great news!", "The refund is done.", "Most kettles need descaling every month.",
    "C++ is not something we support.", "RivalCo and customer service teams differ.",
]
ITEMS = ["Unplug the kettle", "Fill it with vinegar and water", "Let it soak for an hour", "Rinse it twice",
         "Check the lid for cracks", "Keep your receipt", "Print the return label",
         "Drop the parcel at any post office"]
INTROS = ["Here is how to do it:", "Follow these steps:", "Sure, here is what to do:"]
OUTROS = ["That should fix it.", "Let us know if it works!", "Best regards", "Thanks!"]
MARKERS = ["- ", "* ", "\u2022 "]


def answer(rng: random.Random) -> str:
    """One answer in one of four shapes."""
    shape = rng.randrange(4)
    if shape == 0:
        return " ".join(rng.sample(SENTENCES, rng.randint(1, 6)))
    if shape == 1:
        picked = rng.sample(SENTENCES, 9)
        return "\n\n".join(" ".join(picked[3 * i:3 * i + rng.randint(1, 3)]) for i in range(rng.randint(2, 3)))
    items = rng.sample(ITEMS, rng.randint(2, 5))
    numbered = shape == 2
    body = "\n".join((f"{i + 1}. " if numbered else rng.choice(MARKERS)) + item + rng.choice(["", "."])
                     for i, item in enumerate(items))
    parts = [rng.choice(INTROS), body] + ([rng.choice(OUTROS)] if rng.random() < 0.6 else [])
    if rng.random() < 0.5:
        parts.insert(0, rng.choice(SENTENCES))
    return "\n".join(parts)


def corpus(n: int = 300, seed: int = 7) -> list[str]:
    """`n` answers, seeded."""
    rng = random.Random(seed)
    return [answer(rng) for _ in range(n)]


answers = st.integers(0, 2**32 - 1).map(lambda seed: answer(random.Random(seed)))
