"""How long end-to-end tests wait for what must come: a frame, a close, a log line.

Generous on purpose: a wait for something that must arrive costs its length only when the test
fails anyway, while a tight one fails a correct run on a loaded machine (two CPU burners beside a
2-core CI runner: cold instance processes then take seconds to start). Never used to show that
something does NOT come: tests show absence by ordering (a marker sent after it arrives first).
"""

ARRIVAL_SECONDS = 30.0
