"""Benchmarks that print asgiway's figures next to their anchors', measured in the same run.

Run `python -m bench` (after `pip install -e '.[bench]'`); the tables are Markdown, as the README
carries them. Nothing here asserts: targets are reported, with the ratio that tells whether they hold.
"""
