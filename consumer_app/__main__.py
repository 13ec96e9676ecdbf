"""``python -m consumer_app``: run the consumer app against ``SUIYUAN_API`` (default the local backend)."""

import os

os.environ.setdefault("KIVY_NO_ARGS", "1")

from payclient.ui.app import configure_window  # noqa: E402 - Kivy reads its config at import

configure_window()

from consumer_app.main import ConsumerApp  # noqa: E402

ConsumerApp().run()
