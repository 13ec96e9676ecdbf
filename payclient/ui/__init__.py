"""Kivy pieces shared by the consumer and merchant apps (imported only by the apps).

- :mod:`~payclient.ui.fonts` registers the shipped CJK font as Kivy's default,
- :mod:`~payclient.ui.theme` colours, sizes and base widgets (``theme.kv``),
- :mod:`~payclient.ui.qr` a QR code drawn from its payload, :mod:`~payclient.ui.barcode` a Code 128,
- :mod:`~payclient.ui.worker` runs work off the UI thread and brings results back through ``Clock``,
- :mod:`~payclient.ui.i18n` the language as a Kivy property, :mod:`~payclient.ui.keypad` an amount keypad,
- :mod:`~payclient.ui.scanner` camera (where there is one), image file or pasted text,
- :mod:`~payclient.ui.capture` window screenshots (also offscreen).
"""
