"""The analytics layer: the program's health figures read from the case database.

`serving.analytics.report.build_report` computes one typed `AnalyticsReport` (margin, turnover,
pricing decisions, grading consistency, refurbishment, routes, carbon) from the store's tables;
`serving.analytics.render` turns it into report.json, PNG plots, one self-contained HTML page
and a terminal table. The command `regrade report` and the page `/ui/analytics` both call them.
This package reads `serving.store`'s tables; `serving.store` never imports it.
"""
