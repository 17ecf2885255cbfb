"""Record through mitmproxy into a redacted VCR.py cassette.

    mitmdump -s plugins/record_vcr.py --set vcr_cassette=cassettes/api.yaml

Options: see ``apiharness.recording.RecordVCR``. Needs ``pip install 'apiharness[record]'``.
"""

from apiharness.recording.addon import RecordVCR

addons = [RecordVCR()]
