"""The language as a Kivy property, so ``.kv`` text follows the English switch.

In kv: ``#:import tr payclient.ui.i18n.tr`` then ``text: tr('ok', tr.lang)``
(passing ``tr.lang`` makes kv re-evaluate the text when the language changes).
"""

from __future__ import annotations

from kivy.event import EventDispatcher
from kivy.properties import OptionProperty

from payclient.i18n import LANGS, Catalog

__all__ = ["KvTranslator", "tr"]


class KvTranslator(EventDispatcher):
    lang = OptionProperty("zh", options=list(LANGS))

    def __init__(self, catalog: Catalog | None = None, **kwargs):
        super().__init__(**kwargs)
        self.catalog = catalog or Catalog()
        self.lang = self.catalog.lang
        self.catalog.bind(self._from_catalog)

    def _from_catalog(self, lang: str) -> None:
        self.lang = lang

    def on_lang(self, _inst, lang: str) -> None:
        self.catalog.set_lang(lang)

    def __call__(self, key: str, _lang: str | None = None, **kw) -> str:
        return self.catalog.t(key, **kw)

    def add(self, table: dict) -> None:
        self.catalog.add(table)

    def toggle(self) -> str:
        return self.catalog.toggle()


#: The process's translator: both apps add their tables to it.
tr = KvTranslator()
