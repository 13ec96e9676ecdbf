"""``python -m merchant_app``: run the merchant app against ``SUIYUAN_API`` (default the local backend)."""

import os

os.environ.setdefault("KIVY_NO_ARGS", "1")

from payclient.ui.app import configure_window  # noqa: E402 - Kivy reads its config at import

configure_window()

from merchant_app.main import MerchantApp  # noqa: E402

MerchantApp().run()
