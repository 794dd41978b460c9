#!/usr/bin/env python3
"""Writes random EMV cryptography cases with results computed by pyemv
(https://pypi.org/project/pyemv/), an independent implementation, as JSON.

Usage: gen_pyemv.py OUT.json [N] [SEED]

Each case: random IMK, PAN (12-19 digits), PSN, ATC, AC data, ARC, CSU and
proprietary authentication data, and pyemv's ICC MK (options A and B),
session key, AC, ARPC method 1 and method 2.
"""
import json
import random
import sys
import warnings

# pyemv uses two-key TDES through the cryptography package, which flags it as legacy.
warnings.filterwarnings("ignore", message=".*TripleDES.*")

from pyemv import ac, kd


def main() -> None:
    out = sys.argv[1]
    n = int(sys.argv[2]) if len(sys.argv) > 2 else 500
    seed = int(sys.argv[3]) if len(sys.argv) > 3 else None
    rng = random.Random(seed)
    cases = []
    for _ in range(n):
        imk = bytes(rng.getrandbits(8) for _ in range(16))
        pan = "".join(rng.choice("0123456789") for _ in range(rng.randint(12, 19)))
        psn = rng.randint(0, 99)
        atc = rng.getrandbits(16)
        data = bytes(rng.getrandbits(8) for _ in range(rng.randint(0, 64)))
        arc = bytes(rng.getrandbits(8) for _ in range(2))
        csu = bytes(rng.getrandbits(8) for _ in range(4))
        prop = bytes(rng.getrandbits(8) for _ in range(rng.randint(0, 8)))
        mk_a = kd.derive_icc_mk_a(imk, pan, f"{psn:02d}")
        mk_b = kd.derive_icc_mk_b(imk, pan, f"{psn:02d}")
        sk = kd.derive_common_sk(mk_b, atc.to_bytes(2, "big") + bytes(6))
        arqc = ac.generate_ac(sk, data)
        cases.append(
            {
                "imk": imk.hex().upper(),
                "pan": pan,
                "psn": psn,
                "atc": atc,
                "data": data.hex().upper(),
                "arc": arc.hex().upper(),
                "csu": csu.hex().upper(),
                "prop": prop.hex().upper(),
                "icc_mk_a": mk_a.hex().upper(),
                "icc_mk_b": mk_b.hex().upper(),
                "session_key": sk.hex().upper(),
                "ac": arqc.hex().upper(),
                "arpc1": ac.generate_arpc_1(sk, arqc, arc).hex().upper(),
                "arpc2": ac.generate_arpc_2(sk, arqc, csu, prop).hex().upper(),
            }
        )
    with open(out, "w") as f:
        json.dump({"generator": "pyemv", "cases": cases}, f, indent=1)
        f.write("\n")


if __name__ == "__main__":
    main()
