// Chinese names of the core's roles, actions, states, reasons and metrics.
export const ROLES = {
  inspector: '监督员',
  operator: '受理员',
  shift_lead: '值班长',
  dispatcher: '派遣员',
  department: '专业部门',
  admin: '系统管理员',
  system: '系统',
};

export const ACTIONS = {
  create: '信息收集',
  redetected: '再次检测',
  register: '立案',
  reject: '不予立案',
  merge: '合并',
  dispatch: '派遣',
  request_extension: '申请延时',
  request_return: '申请回退',
  request_suspension: '申请挂账',
  request_void: '申请作废',
  approve: '批准申请',
  deny: '驳回申请',
  resume: '恢复处置',
  report: '处理反馈',
  verify_pass: '核查通过',
  verify_fail: '核查不通过（返工）',
  close: '结案',
  evaluate: '综合评价',
  feedback: '市民回访',
  reopen: '重新办理',
  keep_closed: '维持结案',
  handoff: '移交应急指挥中心（已确认）',
  request_confirmation: '派发核实',
  confirm_pass: '核实属实',
  confirm_fail: '核实不属实',
  assign_task: '指派监督员',
  escalate: '上报市级',
  hand_down: '下派区级',
  assign_community: '转派社区',
  recall_community: '收回社区案件',
  link_component: '关联部件',
};

// 两级指挥 (views/case.js): the centre handling a case and the levels it passed
export const LEVELS = {
  centre: '承办中心',
  moved: '{from} → {to}，请于 {due} 前受理',
  // the time the receiving centre has to take the case up (gateway/core/level_deadline.py)
  deadline: '受理期限',
  overdue: '已超过上报/下派期限',
  overdue_note: '（已超过上报/下派期限，承办中心尚未受理）',
  taken: '（按期受理）',
  taken_late: '（超过上报/下派期限后受理）',
};

// 四级联动 (views/case.js): the community a street office passed a case to
export const COMMUNITY = {
  row: '承办社区',
  picker: '承办社区',
  by_grid: '按案件所在网格自动匹配',
  passed: '{street} → {community}',
  recalled: '{community} → {street}（收回）',
  by_community: ' · {community}',
};

// states shown when the core's /api/v1/states is not reachable
export const STATES = {
  candidate: '信息收集',
  registered: '立案',
  rejected: '不予立案',
  merged: '合并',
  processing: '处置',
  suspended: '挂账',
  reported: '处理反馈',
  verified: '待结案',
  closed: '结案',
  reopen_requested: '申请重办',
  evaluated: '综合评价',
  voided: '作废',
};

export const BOARD_STATES = ['candidate', 'registered', 'processing', 'suspended', 'reported', 'verified', 'closed'];

export const REJECT_REASONS = {
  false_detection: '误报（检测错误）',
  not_in_scope: '不属于受理范围',
  duplicate: '重复上报',
  insufficient: '信息不足',
  other: '其他',
};

// a citizen's answer to the hotline's satisfaction survey (contract CaseFeedback.satisfaction)
export const SATISFACTION = { satisfied: '满意', basically_satisfied: '基本满意', dissatisfied: '不满意' };

// a re-detection of an open case's object: a mark on the case, not more evidence (views/case.js)
export const SEEN_AGAIN = {
  row: '再次发现',
  summary: '{count} 次，最近 {at}（{source}）',
  step: '发现于 {at}（{source}）',
};

// 综合评价 of a closed case, computed by the core from its history (views/case.js)
export const CASE_SCORE = {
  title: '综合评价',
  score: '得分',
  grade: '等级',
  grades: { excellent: '优', good: '良', fair: '中', poor: '差' },
  parts: { on_time: '按期结案', rework: '返工', delays: '延时、回退、挂账', satisfaction: '市民满意度' },
  detail: {
    on_time: { true: '按期', false: '超期' },
    rework: '{n} 次',
    delays: '{n} 次',
  },
  note: '由系统根据办理过程自动计算：按期结案、返工次数、延时回退挂账次数、市民回访满意度（有回访时）。',
  none: '暂无可评价的内容',
};

// the emergency command centre's acknowledgement of an urgent case (views/case.js step log)
export const HANDOFF = { receipt: '回执编号 {ref}（第 {n} 次投递）' };

// a deadline counted into a year whose holiday schedule is not yet known (core: deadline_provisional)
export const DEADLINE = { provisional: '（暂算：该年节假日安排未公布，按法定节日计算，未含调休）' };

export const PENDING = { extension: '延时', return: '回退', suspension: '挂账', void: '作废' };

export const LIGHTS = { green: '绿灯', yellow: '黄灯', red: '红灯' };

export const SOURCES = {
  camera: '视频监控',
  call: '12319 热线',
  inspector: '监督员上报',
  api: '接口',
  core: '核心',
};

export const METRICS = [
  ['registered', '立案数', 'count'],
  ['due', '应结案数', 'count'],
  ['closed', '结案数', 'count'],
  ['closed_on_time', '按期结案数', 'count'],
  ['disposals', '处置数', 'count'],
  ['rework', '返工数', 'count'],
  ['overdue_undisposed', '超期未处置', 'count'],
  ['closure_rate', '结案率', 'rate'],
  ['on_time_closure_rate', '按期结案率', 'rate'],
  ['on_time_disposal_rate', '按期处置率', 'rate'],
  ['rework_rate', '返工率', 'rate'],
  ['surveyed', '回访数', 'count'],
  ['satisfaction_rate', '满意率', 'rate'],
  ['score', '综合得分', 'score'],
];

export const GROUPINGS = {
  department: '按部门',
  district: '按区域',
  grid: '按单元网格',
  event_code: '按事件类型',
  none: '全部',
  period: '按时段（周）',
};

// a group of cases that lack the grouping's value (the core's key "(none)")
export const NO_GROUP = {
  department: '未派遣',
  district: '未填区域',
  grid: '未填网格',
  event_code: '未知类型',
};

// which views each role sees, in menu order (the first is the landing page)
export const VIEWS = {
  operator: ['queue', 'board', 'map', 'report', 'cameras'],
  shift_lead: ['queue', 'board', 'map', 'evaluation', 'levels', 'cameras'],
  dispatcher: ['board', 'map', 'evaluation', 'levels', 'cameras'],
  department: ['department', 'map'],
  inspector: ['inspector', 'report', 'board'],
  admin: ['evaluation', 'levels', 'board', 'map', 'cameras', 'users', 'deadletters'],
};

export const VIEW_TITLES = {
  queue: '待审核',
  board: '案件看板',
  map: '地图',
  screen: '大屏', // opened from the map (map.js), full screen without the menu
  department: '本部门案件',
  inspector: '核实、核查任务', // views/inspector_tasks.js
  report: '上报问题',
  cameras: '视频墙',
  evaluation: '综合评价',
  levels: '分级考核', // 三级考核 (views/levels.js)
  deadletters: '死信',
  users: '用户管理',
};

// 综合评价 (views/evaluation.js): whose figures it shows (GET /api/v1/metrics counts the
// user's own centre's cases: a district centre's users their district's, the city's all)
export const EVALUATION = {
  title_of: '综合评价 · {unit}',
  // its sections (监督员考核) count the same unit (the core's answer names it)
  section_of: '{section} · {unit}',
  city: '全市',
};

// 地图 (views/map.js): grids by open cases, cases by light, a grid's cases, 框选
export const MAP = {
  title: '监督指挥地图',
  hint: '点击网格查看其案件和统计；点击“框选”后在地图上拖出矩形，列出框内案件。',
  select: '框选',
  open_only: '只看未结案件',
  legend_title: '网格未结案件：',
  legend: ['无', '1 件', '2–3 件', '4 件以上'],
  zoom_in: '放大',
  zoom_out: '缩小',
  jump: '跳转到', // fit the map to a district's grids, or the whole city's
  jump_city: '全市',
  loading: '正在加载…',
  counts: '网格 {grids} 个，案件 {cases} 件',
  truncated: '（范围内要素过多，仅显示一部分，请放大地图）',
  no_grids: '尚未导入单元网格，请系统管理员导入网格数据',
  grid_code: '网格编码',
  place: '所在区域',
  open_cases: '未结案件',
  open_n: '未结案件 {n} 件',
  grid_total: '该网格共有案件 {total} 件（最近 50 件如下）',
  no_cases: '没有案件',
  no_light: '未派遣',
  cluster: '{n} 件案件，点击放大',
  selection: '框选范围内案件 {n} 件',
  case_title: '案件位置',
  case_grid: '所在网格',
  outside: '不在管理区域内',
  colour_by: '网格着色',
  colour_open: '按未结案件着色',
  colour_score: '按综合得分着色（近 {days} 天）',
  score_legend_title: '网格综合得分：',
  score_legend: { a: '90 以上', b: '75–90', c: '60–75', d: '60 以下', none: '无案件' },
  score: '综合得分 ',
  screen_title: '数字城管监督指挥中心',
  screen_exit: '退出大屏',
  screen_open: '大屏模式',
  today: '今日数据',
  today_of: '今日数据 · {area}', // the 大屏's figures of 全市 or of one district
  open_in_view: '在办案件（地图上）',
  red_in_view: '红灯案件（地图上）',
  camera_icon: '摄',
  camera_title: '摄像头 {name}',
  camera_id: '编号',
  camera_health: '状态',
  camera_grid: '案件归属网格',
  camera_placed_by: { camera_footprint: '按视野范围', point: '按安装位置' },
  camera_outside: '不在管理区域内（其案件不归属任何网格）',
  camera_no_grid: '未导入网格，无法定位',
  camera_live: '查看实时画面',
  camera_connecting: '连接中…',
  camera_wall: '打开视频墙',
  zone_tooltip: '{name}（{camera}）· {where}',
  zone_tooltip_bare: '{name}（{camera}）',
};

// 坐席弹屏 (desk.js): the hotline call an agent just answered, and call recordings
export const DESK = {
  title: '来电弹屏',
  close: '关闭',
  caller: '来电号码',
  caller_name: '来电人',
  unknown_caller: '未显示号码',
  queue: '队列',
  hold: '排队等待',
  seconds: '{n} 秒',
  answered_at: '接通时间',
  member: '坐席',
  ivr_title: '语音导航记录',
  ivr_service: '所选服务',
  ivr_none: '未经过语音导航（直接进入人工队列）',
  ivr_partial: '（未完成）',
  ivr_case: '语音导航已生成案件编号',
  ivr_keys: '按键路径',
  ivr_stage: '停留环节',
  ivr_reason: '转人工原因',
  ivr_category: '所选类别',
  ivr_district: '所选区域',
  ivr_recorded: '已录音',
  cases_title: '历史案件',
  cases_summary: '共 {total} 件，其中未结 {open} 件',
  cases_none: '该号码没有历史案件',
  cases_more: '仅显示最近 {n} 件',
  open: '未结',
  done: '已结',
  start_case: '据此来电新建案件',
  prefilled: '已根据来电 {number} 预填，请补充后上报',
  recording: '通话录音',
  recording_none: '暂无录音',
  stage: {
    welcome: '欢迎语', main_menu: '主菜单', category: '选择类别', urgent_offer: '紧急转接',
    district: '选择区域', location: '录制地点', description: '录制描述', callback: '回拨号码',
    case_number: '播报案件编号', status_number: '输入案件编号', status_answer: '播报办理进度',
    survey: '满意度调查', suggestion: '意见建议', goodbye: '结束',
  },
  purpose: {
    report: '反映问题', suggestion: '意见建议', consultation: '咨询', status_query: '查询进度',
    transfer: '直接转人工', none: '未选择服务', callback: '回访',
  },
  reason: {
    consultation: '咨询，转人工',
    emergency: '紧急情况，来电人要求人工',
    pressed_zero: '来电人按 0 转人工',
    misses: '多次未按有效键，转人工',
    record_failed: '录音失败，转人工',
    rerecorded: '多次重录，转人工',
    other: '转人工',
  },
  recordings: { location: '地点', description: '描述', suggestion: '建议' },
  queue_bar: '人工队列',
  case_calls: '回访与来电',
  case_calls_none: '暂无回访或来电记录',
  queue_figures: '等待 {waiting} · 最长 {longest} 秒 · 已接 {answered} · 放弃 {abandoned} · 空闲坐席 {available}/{agents}',
  queue_down: '交换机连接中断，回访暂停',
  queue_down_no_callbacks: '交换机连接中断', // the centre has callbacks switched off
  queue_stale: '（{n} 秒前）',
};

// 死信 (views/dead_letters.js): messages the core refused for good, for the admin
export const DEAD_LETTERS = {
  title: '死信（无法处理的消息）',
  intro:
    '核心收到但无法处理的消息：格式错误、内容超限、来源与主题不符，或无法存入数据库。这些消息已被确认并不再重发，不会阻塞其他上报；核心只保留最新的一部分。',
  columns: ['收到时间', '原因', '主题', '大小', '消息编号', '详情'],
  summary: '共 {total} 条，显示第 {from}–{to} 条（最新的在前）',
  empty: '没有死信',
  refresh: '刷新',
  previous: '上一页',
  next: '下一页',
  details: '查看',
  core_reason: '核心记录的原因：',
  head: '消息内容开头',
  head_of: '（仅保存前 {n} 字节）',
  no_id: '（无法读取）',
  unknown_code: '其他原因',
};

// why a message was refused, by the core's stable code (gateway/contract.py, gateway/dead_letters.py)
export const DEAD_LETTER_REASONS = {
  too_large: '消息超过大小上限',
  bad_encoding: '内容不是 UTF-8 编码的文本',
  bad_json: '内容不是合法的 JSON（或含有位数过多的数字）',
  too_deep: 'JSON 嵌套层数过多',
  not_an_object: '消息不是 JSON 对象',
  unknown_schema: '未知的消息类型',
  bad_version: '版本号格式错误',
  unsupported_version: '不支持的协议主版本',
  unexpected_schema: '该主题不接收这种类型的消息',
  invalid: '字段缺失，或字段的类型、取值不符合规范',
  facts_too_deep: '检测或来电详情（facts）嵌套超过 8 层',
  facts_too_large: '检测或来电详情（facts）超过 64 KB',
  nul_character: '文本中含有空字符（U+0000），数据库无法保存',
  source_mismatch: '消息声明的来源与发布主题不符',
  unreadable: '消息无法读取',
  store_failed: '消息有效，但无法存入数据库',
};

// a camera's state as its video gateway reports it (the gateway's own detail is a tooltip)
export const CAMERA_STATES = {
  starting: '正在连接摄像头',
  online: '',
  reconnecting: '视频中断，正在重新连接',
  offline: '摄像头已停用',
  error: '摄像头连接失败，正在重试',
};

// a part of a camera's service that does not work (the status's faults: part -> reason; the
// gateway's English reason is kept for the tooltip)
export const CAMERA_FAULTS = {
  stream: '视频流异常',
  events: '事件订阅中断',
  analysis: '视频分析未运行',
  rules: '规则暂停（摄像头偏离分析预置位）',
  ptz: '云台控制失败',
};

// a phone report whose point the inspector moved on the map (facts.position_source 'map')
export const POSITION = {
  row: '位置来源',
  by_hand: '监督员在地图上手动调整（距手机定位约 {m} 米）',
  by_hand_no_fix: '监督员在地图上手动调整',
};

// why a camera's event subscription failed: the start of the gateway's 'events' fault reason
// (adapters/onvif/events.py), said after 事件订阅中断
export const EVENT_FAULT_CAUSES = {
  'cannot subscribe': '无法订阅',
  'pull point gone': '摄像头已丢弃订阅',
  'renew failed': '续订失败',
  'subscription lost': '连接中断',
};

// the live view's pan-tilt-zoom buttons (views/cameras.js; operators and shift leads)
export const PTZ = {
  title: '云台',
  up: '上',
  down: '下',
  left: '左',
  right: '右',
  zoom_in: '放大',
  zoom_out: '缩小',
  stop: '停止',
  preset: '预置位',
  goto: '转到',
  sent: '云台指令已发送',
  preset_missing: '请填写预置位编号',
  hold_hint: '按住转动，松开停止',
};

// inspectors on patrol (巡查) on the map (views/map_patrols.js)
export const PATROLS = {
  icon: '巡',
  marker: '监督员 {name}',
  tooltip: '监督员 {name} · {at}',
  title: '监督员 {name} 今日巡查',
  loading: '正在读取巡查轨迹…',
  last_seen: '最后位置时间',
  grid: '所在网格',
  outside: '管理区域外',
  minutes: '巡查时长',
  minutes_value: '{n} 分钟',
  distance: '巡查里程',
  distance_value: '{n} 公里',
  grids_visited: '到过的网格',
  coverage: '责任网格覆盖率',
  coverage_value: '{pct}（{visited}/{assigned} 个网格）',
  none: '未分配网格',
  track_points: '今日轨迹共 {n} 个定位点',
};

// an inspector's on-site task on the case page (views/case.js; gateway/core/inspector_tasks.py)
export const TASKS = {
  row: '监督员任务',
  kinds: { confirm: '核实', verify: '核查' },
  text: '{kind} · {who} · 期限 {due}',
  nobody: '待分配（网格无监督员）',
  by_grid: '按网格自动指派',
  assignee: '监督员',
  inspector_option: '{name}（在办任务 {n} 件）',
  confirmation_row: '核实结果',
  confirmation: { confirmed: '属实（建议立案）', not_found: '不属实（建议不予立案）' },
  confirmation_text: '{verdict} · {by} · {at}',
  late: '（超时）',
  // an inspector's voice note sent with a 核实/核查 answer (the case page's evidence)
  answer_voice: '语音备注 · 随{kind}结果提交（{who}）',
};

// what the core's API error codes mean, said to the user (api.js describeError)
// the login page's message while an account or address is locked (Retry-After in minutes)
export const LOGIN_LOCKED = '登录失败次数过多，已暂时锁定，请 {minutes} 分钟后再试';

export const ERRORS = {
  network: '无法连接核心服务，请检查网络后重试',
  unauthenticated: '登录已失效，请重新登录',
  forbidden_role: '您的角色无权执行此操作',
  not_your_case: '该案件不属于本部门',
  not_your_level: '该案件不由本级中心办理（已上报或属其他区），无法执行此操作',
  department_not_in_level: '只能派遣到本级中心的部门或街道',
  not_your_community: '该案件未转派给本社区，无法办理',
  street_office_only: '只有街道可以转派或收回社区案件',
  not_a_street_office: '只有街道可以把案件转派给社区或从社区收回',
  with_community: '案件已转派社区办理，请先收回后再操作',
  not_with_community: '该案件未转派社区，无需收回',
  community_required: '请选择承办社区：案件所在网格不属于本街道的任何社区',
  community_not_in_street: '只能转派给本街道的社区',
  no_district: '该案件所在网格不属于任何区，无法下派',
  no_organisation: '未配置组织架构（市、区、街道、社区）',
  unknown_node: '没有这个市、区或街道',
  wrong_state: '案件当前状态不允许此操作（可能已由他人处理，请刷新后查看）',
  pending_request: '案件有待批准的申请，请先等待审批结果',
  no_pending_request: '该案件没有待批准的申请',
  not_a_user_action: '此操作由系统自动完成，不能手工执行',
  opinion_required: '请填写意见：此操作必须说明原因',
  merge_target_required: '请填写要合并到的案件',
  merge_target_not_open: '要合并到的案件须是另一件未结案的案件',
  task_open: '该案件已有待完成的核实任务',
  no_task: '该案件没有待完成的核实任务',
  not_your_task: '该任务已指派给其他监督员',
  assignee_required: '请选择要指派的监督员',
  unknown_inspector: '所选用户不是在岗的监督员',
  body_too_large: '上传内容过大：每次最多 4 张照片（每张不超过 12 MB）和一段语音备注（不超过 2 MB），请减少照片或重新拍摄后再试',
  point_in_future: '手机时间不正确：巡查位置的时间晚于当前时间，请校准手机时间',
  point_too_old: '巡查位置的时间早于 7 天前，已超过保存期限，不再上传（如手机时间不正确，请校准）',
  merge_target_not_found: '找不到要合并到的案件',
  unknown_department: '所选派遣部门不存在',
  bad_extension: '延长时间须大于 0 且不超过 1000 小时',
  calendar_not_covered: '时限跨入的年份尚无节假日安排，无法计算时限：请系统管理员更新节假日数据',
  conflict: '案件已被他人更新，请刷新后重试',
  no_case_opened: '上报已收到，但未生成案件',
  case_not_found: '找不到该案件（可能编号有误，或不属于本部门）',
  evidence_not_found: '找不到该证据材料',
  not_available: '该证据的文件尚未传到核心',
  attachment_not_uploaded: '附件尚未上传成功，请重新选择文件',
  empty_file: '所选文件是空的',
  too_large: '附件过大（最大 16 MB）',
  timezone_required: '时间格式有误',
  bad_period: '统计期间有误（结束须晚于开始；报表期间写作 2026-11、2026-Q4 或 2026-11-30）',
  period_not_started: '该统计期间尚未开始',
  report_unavailable: '报表文件暂时无法生成，请稍后再试或联系管理员',
  unknown_grid: '单元网格编码不存在，请核对后重新填写',
  bad_user: '用户信息不符合要求',
  user_not_found: '找不到该用户',
  user_exists: '该用户名已存在，请在列表中修改该用户',
  cannot_change_self: '不能更改自己的角色，也不能停用自己的账号',
  last_admin: '系统至少要保留一名启用的管理员',
  login_locked: '登录失败次数过多，已暂时锁定，请稍后再试',
  live_view_not_configured: '核心未配置实时画面授权',
  call_records_unavailable: '核心未提供来电记录',
  recording_not_found: '没有这通电话的录音',
  recordings_unavailable: '核心未配置录音目录',
  camera_checks_unavailable: '核心未提供摄像头核查',
  ptz_unavailable: '核心未提供云台控制',
  unknown_camera: '找不到该摄像头（视频网关尚未上报它）',
  bad_ptz: '云台指令无效',
  no_camera: '该案件没有关联摄像头，无法进行摄像头核查',
  camera_check_pending: '上一次摄像头核查尚未答复，请稍候',
  intake_stalled: '核心暂时无法存入新上报（消息积压），请联系系统管理员',
  stopping: '核心服务正在停止，请稍后重试',
  busy: '实时连接数已满，页面将定时刷新',
  invalid_request: '提交的内容不符合要求',
  bad_bbox: '地图范围参数有误（应为 最小经度,最小纬度,最大经度,最大纬度）',
  bad_component_class: '部件类别有误（2 位大类或 4 位小类代码，用逗号分隔）',
  component_not_found: '找不到该部件：部件编码有误，或不在已导入的部件普查数据中',
  bad_photo: '照片无法识别：请选择 JPEG 或 PNG 图片',
  photo_check_unavailable: '核心暂时无法读取 HEIC/HEIF 照片（未安装 libheif-examples），请选择 JPEG 或 PNG 图片，或联系系统管理员',
  photo_too_large: '照片过大，请重新拍摄或选择较小的照片',
  too_many_photos: '照片过多（最多 4 张）',
  bad_voice: '语音备注无法识别：请删除后重新录制（支持 WebM、Ogg、MP4 格式的录音）',
  voice_too_large: '语音备注过大（最大 2 MB），请删除后重新录制',
  voice_too_long: '语音备注过长（最长 60 秒），请删除后重新录制',
  voice_check_unavailable: '核心暂时无法接收语音备注（未安装 ffmpeg），请联系系统管理员',
  position_incomplete: '位置信息不完整，请重新定位',
  unknown_event_code: '没有这个问题类别，请从类别列表中重新选择（类别表可能已更新，请联网后重新打开）',
  period_too_long: '统计期间过长（监督员考核最多 62 天）',
  nul_character: '内容中含有无法保存的空字符（U+0000），请删除后重新提交',
};

// request fields named in the API's validation errors
export const FIELDS = {
  opinion: '意见',
  reason: '原因',
  department: '派遣部门',
  community: '承办社区',
  merge_into: '合并到的案件',
  component_id: '部件编码',
  extension_hours: '延长时间',
  attachments: '附件',
  event_code: '事件类型',
  grid_code: '单元网格编码',
  district: '区域',
  address: '地址',
  title: '标题',
  description: '问题描述',
  callback_number: '回拨号码',
  reporter_name: '上报人',
  call_uniqueid: '来电编号',
  request_id: '上报编号',
  photos: '照片',
  voice: '语音备注',
  lat: '纬度',
  lon: '经度',
  accuracy_m: '定位精度',
  position_source: '位置来源',
  gps_lat: '手机定位纬度',
  gps_lon: '手机定位经度',
  gps_accuracy_m: '手机定位精度',
  verdict: '核查结论',
  name: '用户名',
  password: '密码',
  role: '角色',
  grids: '负责网格',
  active: '启用',
  state: '状态',
  limit: '每页条数',
  offset: '起始位置',
  start: '开始时间',
  end: '结束时间',
};

// pydantic's error types, worded; {field} and the error's limits ({max_length} ...) filled in
export const VALIDATION = {
  missing: '请填写{field}',
  string_too_long: '{field}最多 {max_length} 个字',
  string_too_short: '{field}至少 {min_length} 个字',
  string_pattern_mismatch: '{field}格式不正确',
  too_long: '{field}最多 {max_length} 项',
  greater_than: '{field}须大于 {gt}',
  greater_than_equal: '{field}须不小于 {ge}',
  less_than: '{field}须小于 {lt}',
  less_than_equal: '{field}须不大于 {le}',
  literal_error: '{field}的取值不在可选范围内',
  enum: '{field}的取值不在可选范围内',
  int_parsing: '{field}须是整数',
  float_parsing: '{field}须是数字',
  bool_parsing: '{field}须是“是”或“否”',
  datetime_parsing: '{field}不是有效的时间',
  datetime_from_date_parsing: '{field}不是有效的时间',
  extra_forbidden: '提交了多余的内容（{field}）',
  json_invalid: '提交的内容格式不正确',
};


// camera-assisted verification (摄像头核查) on the case page (views/camera_check.js)
export const CAMERA_CHECK = {
  title: '摄像头核查',
  note: '由摄像头重新检测事发区域，结果仅供参考：核查是否通过由人工确认。',
  request: '请求摄像头核查',
  requested: '已请求摄像头核查',
  none: '尚未进行摄像头核查',
  pending: '摄像头核查中…',
  timed_out: '核查请求超时',
  late: '（超时后送达）',
  before: '核查前',
  after: '核查后',
  no_snapshot: '无抓拍',
  load_failed: '无法加载：',
  seq: '第 {seq} 次',
  requested_at: '请求于 ',
  answered_at: '答复于 ',
  passes: '{passes} 次检测中 {present} 次发现目标',
};

export const CAMERA_VERDICTS = {
  cleared: '摄像头核查：已清除',
  still_present: '摄像头核查：仍存在',
  camera_unavailable: '摄像头核查：摄像头不可用',
};

export const CAMERA_CHECK_TRIGGERS = { report: '处理反馈后自动请求', manual: '人工请求' };
