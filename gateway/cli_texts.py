"""What engineers and operators read from the ``citygw`` command line, in one table.

Every sentence is Chinese; technical identifiers (config keys, paths, URLs, ONVIF/RTSP/MQTT,
codes) stay as they are, and a reason from a library keeps its own words after a Chinese
lead-in. Logs, ``--help`` texts and machine output (JSON, CSV) are not here: they stay
English or are data. The GIS commands and ``citygw broker`` keep their own tables
(gateway/gis/texts.py, gateway/broker_commands.py).
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

from gateway.config import ConfigError, ConfigIssue

NONE = "（无）"

MESSAGES = {
    # click's frame of every refusal
    "error": "错误：{message}",
    "help_hint": "用 '{command} {option}' 查看帮助。",
    "bad_value_of": "{param} 的取值无效：{reason}",
    "missing_value": "缺少 {param}",
    "aborted": "已中止。",
    # citygw config check, and any command whose configuration is refused
    "config_invalid": "{source}：配置有误（{count} 处错误）",
    "config_ok": "{file}：配置正确（实例 {instance}，MQTT 代理 {host}:{port}）",
    # citygw core …
    "db_current": "数据库 {url}：结构已是最新",
    "password": "密码",
    "password_again": "再次输入密码",
    "user_refused": "用户未保存：{reason}",
    "user_saved": "用户 {name}（角色 {role}）已保存",
    "user_saved_department": "用户 {name}（角色 {role}，部门 {department}）已保存",
    "metrics_refused": "统计未能完成：{reason}",
    "report_format": "请用 --format 指定 xlsx、html、pdf 或 json（无法从文件名判断）",
    "report_period": "统计期间无效：{reason}",
    "report_failed": "报表未能生成：{reason}",
    "report_written": "{period}：{registered} 件立案，已写入 {path}",
    "csv_written": "{rows} 行（另有表头）已写入 {path}（UTF-8，带 BOM，可直接用 Excel 打开）",
    # citygw agi, agi-call, prompts
    "agi_listening": "citygw agi：正在监听 {url}",
    "agi_refused": "citygw agi：拒绝启动：缺少 {count} 个语音提示文件：{files}；请先运行 `citygw prompts build`",
    "agi_unreachable": "citygw agi-call：无法连接网关：{reason}",
    "call_ended": "通话结束：结果 {outcome}，案件编号 {number}",
    "prompts_building": "正在生成语音提示，写入 {path}",
    "prompt_built": "已生成",
    "prompt_kept": "无需更新",
    "prompt_line": "[{index:>2}/{total}] {name}.wav {what}：{text}",
    "prompts_failed": "语音提示生成失败：{reason}",
    "prompts_done": "完成：新生成 {built} 个，{kept} 个无需更新",
    "prompt_missing": "缺少语音提示：{path}",
    "prompts_present": "{path} 中的 {count} 个语音提示文件齐全",
    # citygw cameras discover
    "discover_target": "应为 HOST:PORT（主机:端口）",
    "discover_failed": "设备发现失败：{reason}",
    "discover_none": "没有 ONVIF 设备应答",
    "discover_device": "{endpoint}（应答地址 {responder}）",
    "discover_xaddr": "  服务地址 {xaddr}",
    "discover_scope": "  范围     {scope}",
    "snippet_not_mapping": "{path} 不是配置片段",
    "snippet_written": "{path}：新增摄像头 {count} 台（{ids}）",
    "snippet_none_new": "无新增",
    # citygw cameras probe
    "probe_no_camera": "配置中没有带 onvif 段的摄像头 {camera!r}",
    "probe_what": "请给出 URL 或 --camera",
    "probe_failed": "探测失败：{reason}",
    "probe_timeout": "探测失败：超时",
    "probe_device": "设备     {address}",
    "probe_info": "  {manufacturer} {model}，固件 {firmware}",
    "probe_serial": "  序列号 {serial}，硬件 {hardware}",
    "probe_service": "  服务 {namespace} -> {xaddr}",
    "probe_media2": "  媒体     Media2（Profile T）：媒体配置与码流地址",
    "probe_media2_failed": "  媒体     Media1（设备提供 Media2，但调用失败：{reason}）",
    "probe_media1": "  媒体     Media1（设备未提供 Media2）",
    "probe_profile": (
        "媒体配置 {token}（{name}）：{encoding} {width}x{height} @ {fps} fps，{kbps} kbit/s"
    ),
    "probe_stream": "  码流地址 {uri}",
    "probe_snapshot": "  抓图地址 {uri}",
    "probe_presets": "  预置位   {presets}",
    # citygw models list|import
    "imgsz_form": "{text!r}：应为 N 或 H,W（如 320 或 480,640）",
    "imgsz_range": "{text!r}：尺寸须为 32 的倍数，在 32 到 4096 之间",
    "no_cards": "{path} 下没有模型卡",
    "card_invalid": "{name}：模型卡无效：{reason}",
    "card_line": (
        "{name}：{architecture} {height}x{width}，{count} 个类别 [{labels}{more}]，权重：{weights}"
    ),
    "card_more": "，另有 {count} 个",
    "weights_missing": "缺失（请运行 scripts/setup.sh）",
    "import_failed": "无法导入 {file}：{reason}",
    "import_installed": "{card}：已将 {file} 安装为 {installed}",
    "label_form": "{pair!r}：应为 CLASS=LABEL（模型类别=标签）",
    "import_needs_extra": (
        "citygw models import 需要安装可选的 ultralytics 扩展"
        "（pip install 'citygw[ultralytics]'）：{reason}"
    ),
    "imported": "{name}：{height}x{width}，{count} 个类别，onnx {onnx}（sha256 {sha256}）",
    # citygw dev broker|send-candidates
    "broker_listening": "Mosquitto 正在监听 {host}:{port}（日志 {log}）",
    "broker_stopped": "Mosquitto 已停止，详见 {log}",
    "candidate_queued": "已放入发送队列：{id}",
    "candidates_left": "仍有 {count} 条未发出：连不上 MQTT 代理，消息保留在磁盘上",
}


def issue_line(issue: ConfigIssue) -> str:
    """``  video.cameras.0.onvif.url（第 12 行）：<the validator's reason>``."""
    where = f"第 {issue.line} 行" if issue.line else "行号未知"
    return f"  {issue.path}（{where}）：{issue.message}"


def config_error(error: ConfigError) -> str:
    """The heading and one line per issue of a refused configuration file."""
    heading = MESSAGES["config_invalid"].format(source=error.source, count=len(error.issues))
    return "\n".join([heading, *(issue_line(i) for i in error.issues)])


def missing_prompts(missing: Iterable[Path]) -> str:
    """``citygw agi``'s refusal, naming up to five of the missing files."""
    paths = [str(p) for p in missing]
    files = "、".join(paths[:5]) + (f" 等（另有 {len(paths) - 5} 个）" if len(paths) > 5 else "")
    return MESSAGES["agi_refused"].format(count=len(paths), files=files)
