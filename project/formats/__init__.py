"""How dates, times and durations are written, one way per language.

`en/formats.py` and `ko/formats.py` are Django format modules (FORMAT_MODULE_PATH =
"project.formats"): every page shows a date with DATE_FORMAT and a date with its time
with SHORT_DATETIME_FORMAT (DATETIME_FORMAT is the same). `phrases.py` words the time
left until the daily limit resets.
"""
