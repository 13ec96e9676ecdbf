"""The pay-slip screen's text (merged into ``STRINGS`` by ``strings.py``)."""

PAYOUTS = {
    "zh": {
        "c.home.payslips": "工资到账",
        "c.ps.title": "工资/补贴到账",
        "c.ps.arrived": "{org} 的{category}已到账 {amount}",
        "c.ps.empty": "还没有单位发放给您的工资或补贴",
        "c.ps.note": "机关、国有企业等单位以数字人民币发放的工资、津贴、补贴和报销在这里查看。",
        "c.ps.split": "钱包 {wallet}，超出余额上限的 {bank} 转入绑定银行账户",
        "c.ps.status.paid": "已到账",
        "c.ps.status.failed": "未到账",
        "c.ps.status.pending": "发放中",
    },
    "en": {
        "c.home.payslips": "Pay slips",
        "c.ps.title": "Salaries & subsidies",
        "c.ps.arrived": "{category} from {org} arrived: {amount}",
        "c.ps.empty": "No salaries or subsidies paid to you yet",
        "c.ps.note": "Salaries, allowances, subsidies and reimbursements organisations pay you in e-CNY.",
        "c.ps.split": "Wallet {wallet}; {bank} above its balance cap went to your linked bank account",
        "c.ps.status.paid": "Received",
        "c.ps.status.failed": "Not received",
        "c.ps.status.pending": "Being paid",
    },
}
