"""Every Mandarin prompt the IVR plays: name -> text, and where each file lives.

The texts are the centre's call script; `citygw prompts build` speaks them with
espeak-ng (``cmn``) into 8 kHz mono 16-bit WAV files (`gateway.telephony.prompt_build`),
and `citygw agi` refuses to start while one is missing (`missing_prompts`).

Menus read from config (districts, categories) are generated from it, so a change of
the district list is one config edit plus ``citygw prompts build``. Digits 0-9 are
built too: ``SAY DIGITS`` reads ``digits/<n>`` in the channel's language (zh), and
Asterisk ships no Mandarin digits.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from gateway.telephony.settings import TelephonyConfig

#: the hotline number, spelt for the speech engine (幺 for 1, as operators say it)
_HOTLINE = "幺二三幺九"

FIXED_PROMPTS: dict[str, str] = {
    "welcome": f"您好，欢迎致电{_HOTLINE}城市管理服务热线。",
    "main-menu": (
        "反映问题或投诉请按1，咨询请按2，查询案件办理进度请按3，提出意见建议请按4，"
        "重听请按9，人工服务请按0。"
    ),
    "invalid": "您的输入有误，请重新输入。",
    "no-input": "没有收到您的按键。",
    "transfer-agent": "正在为您转接人工服务，请稍候。",
    "urgent-offer": "您反映的是突发事件。立即转接人工请按1，继续录音留言请按2。",
    "record-location": "请在提示音后说出问题发生的详细地点，说完请按井号键。",
    "record-description": "请在提示音后描述您要反映的问题，说完请按井号键。",
    "record-suggestion": "请在提示音后说出您的意见或建议，说完请按井号键。",
    "confirm-recording": "确认录音请按1，重新录音请按2。",
    "callback-choice": "使用本机号码联系您请按1，输入其他联系电话请按2。",
    "callback-enter": "请输入您的联系电话，以井号键结束。",
    "case-number-is": "已为您登记，您的案件编号是：",
    "case-number-repeat": "重听编号请按星号键。",
    "suggestion-thanks": "感谢您的意见建议，我们会认真研究。",
    "goodbye": "感谢您的来电，再见。",
    "status-enter": "请输入案件编号，以井号键结束。",
    "status-wait": "正在查询，请稍候。",
    "status-not-found": "没有查询到该案件，请核对编号后再拨。",
    "status-is": "您查询的案件目前的状态是：",
    "status-candidate": "已收到，等待受理。",
    "status-registered": "已立案，等待派遣。",
    "status-processing": "已派遣，正在处置。",
    "status-suspended": "已挂账，暂缓处理。",
    "status-reported": "已处理，等待核查。",
    "status-verified": "已核查通过，等待结案。",
    "status-closed": "已结案。",
    "status-evaluated": "已结案并完成评价。",
    "status-reopen_requested": "已申请重新办理。",
    "status-rejected": "不予立案。",
    "status-merged": "已与同一问题的其他案件合并办理。",
    "status-voided": "已作废。",
    "status-unknown": "正在办理中。",
    "survey": "请您对办理结果进行评价：满意请按1，基本满意请按2，不满意请按3。",
    "survey-thanks": "感谢您的评价。",
    "survey-reopen": "很抱歉办理结果未能让您满意，我们将重新办理。",
    # the outbound callback (回访), played by config/asterisk/extensions-citygw-callback.conf
    "callback-intro": f"您好，这里是{_HOTLINE}城市管理服务热线，您反映的问题已经办理完毕。",
}

#: case states with a prompt of their own (``status-<state>``); others read ``status-unknown``
STATUS_PROMPTS = frozenset(
    name.removeprefix("status-")
    for name in FIXED_PROMPTS
    if name.startswith("status-")
    and name not in ("status-enter", "status-wait", "status-not-found", "status-is")
)

_DIGIT_WORDS = "零幺二三四五六七八九"


def category_menu_text(config: TelephonyConfig) -> str:
    options = "，".join(f"{c.name}请按{c.key}" for c in config.categories)
    return f"请选择问题类别：{options}，重听请按9，人工服务请按0。"


def district_menu_text(config: TelephonyConfig) -> str:
    options = "，".join(f"{d.name}请按{d.key}" for d in config.districts)
    return f"请选择问题所在的区：{options}，重听请按9，人工服务请按0。"


def menu_prompts(config: TelephonyConfig) -> dict[str, str]:
    """Every prompt of the IVR (name -> text), the config's menus included."""
    return {
        **FIXED_PROMPTS,
        "category-menu": category_menu_text(config),
        "district-menu": district_menu_text(config),
    }


@dataclass(frozen=True)
class PromptFile:
    name: str  # e.g. "citygw/welcome" (relative to sounds_dir)
    text: str
    path: Path  # the WAV file


def prompt_files(config: TelephonyConfig) -> list[PromptFile]:
    """Every file the IVR needs: its prompts, and the Mandarin digits SAY DIGITS reads."""
    files = [
        PromptFile(f"{config.prompt_subdir}/{name}", text, config.prompt_dir / f"{name}.wav")
        for name, text in menu_prompts(config).items()
    ]
    files += [
        PromptFile(
            f"digits/{digit}", _DIGIT_WORDS[digit], config.sounds_dir / "digits" / f"{digit}.wav"
        )
        for digit in range(10)
    ]
    return files


def missing_prompts(config: TelephonyConfig) -> list[Path]:
    return [
        f.path for f in prompt_files(config) if not f.path.is_file() or f.path.stat().st_size <= 44
    ]


def playable(config: TelephonyConfig, name: str) -> str:
    """What STREAM FILE / GET DATA get for a prompt: its absolute path without extension.

    Absolute, so the channel's language cannot send Asterisk looking elsewhere.
    """
    if name not in FIXED_PROMPTS and name not in ("category-menu", "district-menu"):
        raise KeyError(f"no prompt named {name!r}")
    return str(config.prompt_dir / name)
