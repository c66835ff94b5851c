"""The product hashes passwords with argon2id at RFC 9106's cost, whatever the in-process tests swap in to run
faster (``tests/fast_hashing.py``), and both hashers agree on what a hash is."""

from __future__ import annotations

from argon2 import Type, extract_parameters

import data.accounts
from tests.fast_hashing import CHEAP_HASHER, REAL_HASHER


def test_the_product_hashes_with_argon2id_at_rfc_9106_cost():
    parameters = extract_parameters(REAL_HASHER.hash("correct horse battery staple"))
    assert parameters.type is Type.ID
    assert (parameters.memory_cost, parameters.time_cost, parameters.parallelism) == (65536, 3, 4)


def test_in_process_tests_hash_with_argon2id_and_check_real_hashes_too():
    assert data.accounts._hasher is CHEAP_HASHER  # the session's swap is in place
    cheap = data.accounts.hash_password("pw-1")
    assert extract_parameters(cheap).type is Type.ID
    assert data.accounts.verify_password(cheap, "pw-1") and not data.accounts.verify_password(cheap, "pw-2")
    # a hash made at the product's cost (an argon2 hash carries its parameters) still verifies
    assert data.accounts.verify_password(REAL_HASHER.hash("pw-3"), "pw-3")
