"""The read side: verification, sessions, replay and the evidence report.

Never imports ``regogate.recording.write``: an examiner's tools need nothing the gateway signs with.
"""
