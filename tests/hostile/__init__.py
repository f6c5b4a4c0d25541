"""The hostile-input corpus (SPEC §7 "hostile input", issue "Hardening").

Every case runs the real console script (`harness.run_bounded`: under an address-space limit,
peak RSS and wall time read from wait4) and is held to `harness.assert_refused`: exit 1, one
clear message and nothing else on stderr, no traceback, no secret, bounded time and memory.

    test_inputs.py    odd workspace entries, numbers and keys, usage errors, --out
    test_state.py     damaged state (zero bytes, random bytes, dropped table, renamed column,
                      deleted workspace row), unwritable workspace / platform DB / state DB,
                      the explicit recovery, history of a killed apply
    test_cli.py       Ctrl-C at the approval prompt, unapplyable plans, --debug
    test_platform.py  the emulator behind a misbehaving proxy (proxy.py) or with injected
                      faults: a createJob landing after the client's timeout, lists that never
                      end, secrets echoed back or in progress, base URL and API-key mistakes,
                      answers of the wrong shape, a 100,000-deep body, large distinct queries
"""
