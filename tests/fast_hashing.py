"""Password hashing for in-process tests: argon2id with the smallest cost parameters.

The product hashes with argon2's RFC 9106 defaults (64 MiB, three passes, four lanes): about a second a hash
or a check on a busy 2-core machine, and the unit suite makes hundreds of users and sign-ins. In-process tests
run with the same algorithm (argon2id), the same code paths and the same answers, at the cheapest cost
(``tests/conftest.py`` swaps it in for the session); ``REAL_HASHER`` keeps the product's hasher, whose
parameters ``tests/unit/test_password_hashing.py`` checks, and every CLI subprocess hashes at full cost."""

from __future__ import annotations

from argon2 import PasswordHasher, Type

import data.accounts

#: the product's hasher, as ``data.accounts`` made it (taken before any test swaps it)
REAL_HASHER: PasswordHasher = data.accounts._hasher

#: argon2id at its cheapest: 8 KiB, one pass, one lane (microseconds instead of a second)
CHEAP_HASHER = PasswordHasher(time_cost=1, memory_cost=8, parallelism=1, hash_len=16, salt_len=16, type=Type.ID)
