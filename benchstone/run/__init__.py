"""One run set, end to end: the repetition driver, the protocol with the runner, seeds and the
environment fingerprint.
"""
