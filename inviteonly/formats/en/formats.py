"""English short dates that name the month ("Dec 1, 2026"): Django's are American
("12/01/2026"), which a reader elsewhere takes for 12 January. The long formats are
Django's ("Dec. 1, 2026")."""

SHORT_DATE_FORMAT = "M j, Y"
SHORT_DATETIME_FORMAT = "M j, Y, P"
