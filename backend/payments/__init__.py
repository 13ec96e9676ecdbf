"""Taking e-CNY: dynamic and static QR orders, payment codes, refunds, statements."""
