"""Name pools for the demo company: Ukrainian names in Zoho-friendly Latin spelling."""

from __future__ import annotations

FIRST_NAMES: tuple[str, ...] = (
    "Anna", "Oksana", "Iryna", "Olena", "Kateryna", "Natalia", "Yulia", "Svitlana", "Mariia",
    "Tetiana", "Viktoriia", "Daria", "Sofiia", "Alina", "Khrystyna", "Andrii", "Oleksandr",
    "Dmytro", "Serhii", "Mykola", "Volodymyr", "Taras", "Bohdan", "Yurii", "Ivan", "Petro",
    "Maksym", "Roman", "Vasyl", "Oleh", "Artem", "Denys",
)  # fmt: skip

LAST_NAMES: tuple[str, ...] = (
    "Ivanenko", "Shevchenko", "Kovalenko", "Bondarenko", "Tkachenko", "Kravchenko", "Oliinyk",
    "Shevchuk", "Polishchuk", "Boiko", "Melnyk", "Lysenko", "Marchenko", "Savchenko",
    "Rudenko", "Moroz", "Pavlenko", "Kharchenko", "Klymenko", "Levchenko", "Honcharenko",
    "Romanenko", "Hrytsenko", "Tymoshenko", "Zinchenko", "Havryliuk", "Petrenko", "Yakovenko",
    "Demchenko", "Sydorenko",
)  # fmt: skip

PRODUCTS: tuple[str, ...] = (
    "Corner sofa", "Kitchen set", "Wardrobe", "Office chairs", "Bed frame", "Dining table",
    "Bookshelves", "Armchair", "Mattress", "Hallway set",
)  # fmt: skip

UNMAPPED_SIPS: tuple[tuple[str, str], ...] = (
    ("reception_sip", "Reception"),
    ("old_manager_sip", ""),
)
"""SIP accounts that answer calls but belong to no configured employee (SPEC rows 2, 5, 12)."""
