"""Searching another organisation's matcher without pooling biometrics (docs/federation.md).

One job per module:

* ``keys``: this instance's Ed25519 signing key (file beside the data key), peers' public
  keys, fingerprints;
* ``signing`` and ``nonces``: signed requests and answers, refused when unsigned, wrongly
  signed, unknown, stale or replayed;
* ``policy``: what one peer may do (sides, the facts that may travel, rate, disclosure,
  search modes) and the facts a query carries;
* ``packing`` (pure numpy), ``sealio`` and ``ckks``: the encrypted inner products (CKKS via
  the SEAL bindings that ship in TenSEAL);
* ``gallery``, ``handles``, ``holder``: the holder's side (rows, one-time handles, answers);
* ``messages``: the wire format; ``requester``: the asking side (encrypt, decrypt, rank).
"""
