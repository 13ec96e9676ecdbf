"""The e-receipt's text, merged into ``strings.STRINGS``."""

RECEIPT = {
    "zh": {
        "c.receipt.title": "电子小票",
        "c.receipt.verified": "已认证商户",
        "c.receipt.unverified": "未认证商户",
        "c.receipt.time": "付款时间",
        "c.receipt.status": "状态",
        "c.receipt.reference": "订单号",
        "c.receipt.refunded": "已退回钱包",
        "c.receipt.qr_caption": "申请退款时向商户出示",
        "c.receipt.footer": "数字人民币 · 支付即结算",
        "c.receipt.share": "分享小票图片",
        "c.receipt.saved": "小票图片已保存：{path}",
        "c.receipt.open": "查看电子小票",
    },
    "en": {
        "c.receipt.title": "e-Receipt",
        "c.receipt.verified": "Verified merchant",
        "c.receipt.unverified": "Unverified merchant",
        "c.receipt.time": "Paid at",
        "c.receipt.status": "Status",
        "c.receipt.reference": "Order no.",
        "c.receipt.refunded": "Refunded to wallet",
        "c.receipt.qr_caption": "Show it to the shop for a refund",
        "c.receipt.footer": "e-CNY · payment is settlement",
        "c.receipt.share": "Share as a picture",
        "c.receipt.saved": "Receipt picture saved: {path}",
        "c.receipt.open": "Open the e-receipt",
    },
}
