"""What engineers and operators read from the ``citygw`` command line, in one table.

Every sentence is Chinese; technical identifiers (config keys, paths, URLs, ONVIF/RTSP/MQTT,
codes) stay as they are, and a reason from a library keeps its own words after a Chinese
lead-in. Logs, ``--help`` texts and machine output (JSON, CSV) are not here: they stay
English or are data. The GIS commands and ``citygw broker`` keep their own tables
(gateway/gis/texts.py, gateway/broker_commands.py).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
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
    "user_saved_node": "用户 {name}（角色 {role}，所属中心 {node}）已保存",
    "user_node": "组织树中没有编号为 {node} 的节点：--node 应为区级中心的编号（如 320706）或 city（市级中心），监督员也可为街道或社区的编号",
    "metrics_refused": "统计未能完成：{reason}",
    "report_format": "请用 --format 指定 xlsx、html、pdf 或 json（无法从文件名判断）",
    "report_period": "统计期间无效：{reason}",
    "report_node": "组织树中没有编号为 {node} 的区或街道：--node 应为区或街道的编号（如 320706、320706001），或 city（全市）",
    "report_failed": "报表未能生成：{reason}",
    "report_written": "{period}：{registered} 件立案，已写入 {path}",
    "csv_written": "{rows} 行（另有表头）已写入 {path}（UTF-8，带 BOM，可直接用 Excel 打开）",
    # citygw agi, agi-call, prompts
    "agi_listening": "citygw agi：正在监听 {url}",
    "agi_refused": "citygw agi：拒绝启动：缺少 {count} 个语音提示文件：{files}；请先运行 `citygw prompts build`",
    "agi_unreachable": "citygw agi-call：无法连接网关：{reason}",
    # citygw ami
    "ami_running": "citygw ami：正在连接 Asterisk 管理接口 {host}:{port}（回访、未经语音导航的来电记录、坐席弹屏、队列数据）",
    "ami_off": "citygw ami：未启用（telephony.callbacks.enabled 为 false），没有可运行的内容",
    "ami_enabled": "citygw ami：已启用（telephony.callbacks.enabled 为 true）",
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
    "secrets_written": "{path}：写入密码变量 {count} 个（{names}），仅所有者可读；"
    "请作为守护进程的 EnvironmentFile 使用",
    # citygw cameras discover --add --credentials FILE / --prompt
    "credentials_without_add": "--credentials 与 --prompt 只能与 --add 一起使用",
    "credentials_missing": "凭据文件 {path} 不存在",
    "credentials_unreadable": "凭据文件 {path} 无法读取：{reason}",
    "credentials_denied": "没有读取权限",
    "credentials_directory": "这是一个目录",
    "credentials_not_text": "不是 UTF-8 文本",
    "credentials_io": "读取出错",
    "credentials_bad": "凭据文件 {path} 有误：{what}",
    "credentials_yaml": "YAML 语法错误（第 {detail} 行）",
    "credentials_not_list": "应为条目列表，每条含 match、username，以及 password_env 或 password",
    "credentials_csv_header": "CSV 第一行应为列名：{detail}",
    "credentials_entry_not_mapping": "第 {entry} 条不是“键: 值”映射",
    "credentials_unknown_field": "第 {entry} 条有未知字段 {detail}（可用：match、username、"
    "password_env、password）",
    "credentials_missing_field": "第 {entry} 条缺少 {detail}",
    "credentials_one_password": "第 {entry} 条应给出 password_env 或 password，且只给其一",
    "credentials_bad_env": "第 {entry} 条的 password_env “{detail}”不是合法的环境变量名",
    "credentials_bad_password": "第 {entry} 条的 password 含换行符",
    "credentials_ask_user": "摄像头 {camera}（{url}）的用户名（留空：无需登录）",
    "credentials_ask_password": "摄像头 {camera} 的密码（输入不显示）",
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


#: pydantic's error types, said in Chinese (its context fills the fields); a type not here
#: keeps pydantic's English sentence
CONFIG_ERRORS = {
    "missing": "缺少必填项",
    "extra_forbidden": "不认识的键（是否拼写有误？）",
    "greater_than": "应大于 {gt}",
    "greater_than_equal": "应大于或等于 {ge}",
    "less_than": "应小于 {lt}",
    "less_than_equal": "应小于或等于 {le}",
    "int_type": "应为整数",
    "int_parsing": "应为整数",
    "int_from_float": "应为整数（不能有小数部分）",
    "float_type": "应为数字",
    "float_parsing": "应为数字",
    "bool_type": "应为 true 或 false",
    "bool_parsing": "应为 true 或 false",
    "string_type": "应为字符串",
    "list_type": "应为列表",
    "dict_type": "应为映射（键: 值）",
    "model_type": "应为映射（键: 值）",
    "model_attributes_type": "应为映射（键: 值）",
    "literal_error": "应为以下取值之一：{expected}",
    "enum": "应为以下取值之一：{expected}",
    "string_too_short": "至少 {min_length} 个字符",
    "string_too_long": "最多 {max_length} 个字符",
    "too_short": "至少 {min_length} 项",
    "too_long": "最多 {max_length} 项",
    "string_pattern_mismatch": "格式不符（应匹配 {pattern}）",
    "url_parsing": "不是有效的 URL",
    "url_scheme": "URL 协议应为 {expected_schemes}",
    # the loader's own (gateway/config.py)
    "env_unset": "环境变量 {name} 未设置",
    "yaml": "不是有效的 YAML：{problem}",
    "not_mapping": "顶层必须是映射（键: 值）",
    "unreadable": "无法读取：{reason}",
    # files a setting names (core.http_tls)
    "file_missing": "文件 {file} 不存在",
    "file_unreadable": "无法读取文件 {file}（{reason}）",
    "tls_pair": "证书与私钥无法一起用于 TLS（证书与私钥不匹配、不是 PEM 格式或私钥已加密）：{reason}",
}

#: the places of an issue that is not at a key
CONFIG_PLACES = {"(file)": "文件", "(top)": "顶层"}


def issue_reason(issue: ConfigIssue) -> str:
    """The reason of one issue in Chinese where pydantic's type says it; a rule of our own
    (``value_error``) keeps its English sentence after ``取值无效：``."""
    if issue.kind in ("value_error", "assertion_error"):
        reason = issue.message.removeprefix("Value error, ").removeprefix("Assertion failed, ")
        return f"取值无效：{reason}"
    template = CONFIG_ERRORS.get(issue.kind or "")
    if template is None:
        return issue.message
    try:
        return template.format(**(issue.context or {}))
    except (KeyError, IndexError):
        return issue.message


#: ``citygw core add-user``'s refusals (`gateway.core.auth.UserError`'s kinds)
USER_ERRORS = {
    "bad_name": "用户名须为 1 到 64 个字母、数字、'-'、'_' 或 '.'",
    "unknown_role": "未知角色 {role!r}；可选角色：{roles}",
    "system_role": "system 是核心自身的角色，不能授予用户",
    "unknown_department": "专业部门用户须指定已配置的部门，给出的是 {department!r}；已配置：{known}",
    "department_not_allowed": "只有专业部门用户才属于某个部门（--department）",
    "grids_not_allowed": "只有监督员才分配网格（--grid）",
    "bad_grids": "网格最多 200 个，每个为单元网格代码或代码前缀（6 到 14 位数字）",
    "no_organisation": "未配置组织机构：用户都在市级中心",
    "department_node": "专业部门用户只能位于其部门所在的节点，不能是 {node}",
    "unknown_node": (
        "组织节点 {node!r} 不适用于角色 {role}：应为市级或区级中心（监督员也可为街道或社区）"
    ),
    "short_password": "密码至少 {length} 个字符",
}


def user_error(kind: str, params: Mapping[str, object], reason: str) -> str:
    """A refused user in Chinese; an unknown ``kind`` keeps the English ``reason``."""
    template = USER_ERRORS.get(kind)
    try:
        return template.format(**params) if template is not None else reason
    except (KeyError, IndexError):
        return reason


#: an ONVIF call's failure (adapters.onvif.OnvifError's kind), before the device's own reason
ONVIF_ERRORS = {
    "unauthorized": "设备拒绝了用户名或密码",
    "timeout": "超时",
    "unreachable": "无法连接设备",
    "closed": "设备关闭了连接",
    "fault": "设备返回 SOAP 错误",
    "unsupported": "设备不支持",
    "no_profile": "设备没有该媒体配置",
    "bad_url": "地址无效",
    "error": "出错",
}


def onvif_error(kind: str, reason: str) -> str:
    """``设备拒绝了用户名或密码（the device's reason）``; an unknown kind as ``kind: reason``."""
    label = ONVIF_ERRORS.get(kind)
    return f"{label}（{reason}）" if label is not None else f"{kind}: {reason}"


def issue_line(issue: ConfigIssue) -> str:
    """``  mqtt.port（第 2 行）：应大于或等于 1``."""
    where = f"第 {issue.line} 行" if issue.line else "行号未知"
    path = CONFIG_PLACES.get(issue.path, issue.path)
    return f"  {path}（{where}）：{issue_reason(issue)}"


def config_error(error: ConfigError) -> str:
    """The heading and one line per issue of a refused configuration file."""
    heading = MESSAGES["config_invalid"].format(source=error.source, count=len(error.issues))
    return "\n".join([heading, *(issue_line(i) for i in error.issues)])


def missing_prompts(missing: Iterable[Path]) -> str:
    """``citygw agi``'s refusal, naming up to five of the missing files."""
    paths = [str(p) for p in missing]
    files = "、".join(paths[:5]) + (f" 等（另有 {len(paths) - 5} 个）" if len(paths) > 5 else "")
    return MESSAGES["agi_refused"].format(count=len(paths), files=files)


#: ``citygw core``'s line per candidate received (``--quiet``: none); ids and codes as they are
INTAKE = {
    "candidate": "{ts} 候选 {id} [{flag}] 来自 {source}：事件 {event}，位置 {where}{marks}"
    "（证据 {evidence} 份）",
    "new": "新",
    "duplicate": "重复",
    "partial": "，不完整",
    "urgent": "，紧急",
    "case": " -> 案件 {number}（{outcome}）",
}

#: ``scripts/demo.sh`` (``python -m gateway.demo``) and its sample candidates; each line is
#: printed after its part's ``[name]``. Kept as it is: ``NOT STARTED: <why>`` (an issue names
#: that line), with its Chinese gloss after it.
DEMO = {
    "part_failed": "出错停止：{error!r}",
    "not_started": "NOT STARTED: {why}（此部分未启动，其余部分照常运行）",
    "not_stopped": "{name} 在 20 秒内未停止",
    "stop_failed": "停止时出错：{error!r}",
    "area_present": "{area}的演示区域已在核心数据库中",
    "area_imported": (
        "已将{area}的演示区域（{folder}）导入核心数据库，用时 {seconds:.2f} 秒："
        "单元网格 {grids} 个，部件 {components} 个，门牌地址 {addresses} 个"
    ),
    "yesterday": "{area}昨天（{day}）的案件：{done}",
    "yesterday_made": "已生成 {count} 件",
    "yesterday_there": "已存在",
    "core_urls": "控制台：{url}/console/   API 文档：{url}/docs",
    "camera": "测试摄像头 {camera}：{url}（vtest，循环播放）",
    "live_view": "实时视频：http://127.0.0.1:{port}/live/（也可在控制台的视频墙查看）",
    "detections": "草坪（跌倒）和步道（人群聚集）上的检测结果会成为候选案件",
    "cameras_placed": (
        "摄像头位于{district}演示区域，控制台的地图上显示它们及其拍摄范围；"
        "其案件落在网格 {main}、{corner} 和 {fall}"
    ),
    "street_order": "停在禁停区（画面右上）的厢式货车约在摄像头启动 40 秒后成为 0505 候选案件，进入待审核",
    "staged": (
        "测试摄像头 {camera}：摆拍场景（vtest 中的一名行人躺在草地上），"
        "真实的跌倒，生成紧急的 0497 候选案件"
    ),
    "prompts_built": "已生成 {count} 个语音提示，写入 {path}",
    "fastagi": "FastAGI 监听 127.0.0.1:{port}/{script}",
    "call_placed": "模拟的 Asterisk 从 {caller} 拨打 12319（反映{district}的市容环境问题，网格 {grid}）",
    "call_ended": (
        "通话结束：AGI 命令 {commands} 条，录音 {recordings} 段，告知来电人的案件编号：{number}"
    ),
    "no_number": "无",
    "no_mosquitto": "无法启动 Mosquitto，而各部分都依赖它：{error}",
    "run_setup": "请运行 scripts/setup.sh（它会安装 mosquitto 并生成 TLS 证书）",
    "mosquitto": (
        "Mosquitto 监听 127.0.0.1:{port}：仅限 TLS（CA {ca}），每个部分一个用户，"
        "各自只能发布自己的主题"
    ),
    "console": "控制台：{url}",
    "https_phone": (
        "手机（监督员）：{url}/console/mobile/（HTTPS：离线模式和语音备注可用；"
        "请先在手机上安装并信任 CA 证书 {ca}，见 README「手机上的 HTTPS」）"
    ),
    "https_failed": "无法生成 HTTPS 证书：{error}",
    "logins": "登录账号：{logins}；密码 {password}",
    "operator_hint": (
        "以受理员身份在待审核中确认 0505 违章停车候选案件和摄像头 {fall} 的跌倒，"
        "把摄像头 {camera} 草坪上的跌倒（一块黄布）判为误报；按 Ctrl-C 全部停止"
    ),
    "map_hint": (
        "地图显示{area}的演示区域（单元网格、部件）、摄像头及其拍摄范围和案件；"
        "hz-operator 和 hz-dispatcher 在{district}区级中心工作，ly-operator 和 ly-dispatcher "
        "在{lianyun}区级中心（各自只见本区的案件、部门和街道）；综合评价 按区域（lead）"
        "给出两区的指标，/public/ranking 为两区排名（昨天的案件）；两区的热线来电"
        "各自进入本区的待审核（hz-operator、ly-operator）"
    ),
    "not_running": "未运行：{parts}",
    "stopped": "已停止",
    "sample_queued": "已放入发送队列：示例候选案件 {id}（网格 {grid}）",
    "samples_left": "示例候选案件仍在队列中：MQTT 代理未接收（消息保留在磁盘上）",
}
