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
  evaluate: '综合评价',
  feedback: '市民回访',
  reopen: '重新办理',
  keep_closed: '维持结案',
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
  closed: '结案',
  reopen_requested: '申请重办',
  evaluated: '综合评价',
  voided: '作废',
};

export const BOARD_STATES = ['candidate', 'registered', 'processing', 'suspended', 'reported', 'closed'];

export const REJECT_REASONS = {
  false_detection: '误报（检测错误）',
  not_in_scope: '不属于受理范围',
  duplicate: '重复上报',
  insufficient: '信息不足',
  other: '其他',
};

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

// which views each role sees, in menu order (the first is the landing page)
export const VIEWS = {
  operator: ['queue', 'board', 'report', 'cameras'],
  shift_lead: ['queue', 'board', 'evaluation', 'cameras'],
  dispatcher: ['board', 'evaluation', 'cameras'],
  department: ['department'],
  inspector: ['inspector', 'report', 'board'],
  admin: ['evaluation', 'board', 'cameras'],
};

export const VIEW_TITLES = {
  queue: '待审核',
  board: '案件看板',
  department: '本部门案件',
  inspector: '核查任务',
  report: '上报问题',
  cameras: '视频墙',
  evaluation: '综合评价',
};
