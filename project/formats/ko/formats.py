# Korean dates and times on every page: "2026년 3월 5일", "2026년 3월 5일 14:05".
# Only the formats we display; the rest (input formats, separators) stay Django's.
DATE_FORMAT = "Y년 n월 j일"
SHORT_DATE_FORMAT = DATE_FORMAT
TIME_FORMAT = "H:i"
DATETIME_FORMAT = "Y년 n월 j일 H:i"
SHORT_DATETIME_FORMAT = DATETIME_FORMAT
MONTH_DAY_FORMAT = "n월 j일"
YEAR_MONTH_FORMAT = "Y년 n월"
