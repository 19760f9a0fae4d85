"""What operators read from the GIS commands: every sentence in Chinese, in one table."""

from __future__ import annotations

from gateway.gis.validation import Problem, ProblemKind, Severity

KIND_NAMES = {
    "grids": "单元网格",
    "areas": "管理区域",
    "components": "部件",
    "addresses": "门牌地址",
}

FIELD_NAMES = {
    "code": "代码",
    "id": "标识码",
    "district": "区县",
    "name": "名称",
    "state": "状态",
    "geometry": "几何",
    "features": "要素",
    "owner": "主管部门",
    "road": "道路",
    "number": "门牌号",
    "building": "楼栋",
    "unit": "单元",
    "text": "地址全文",
    "lon": "经度",
    "lat": "纬度",
    "properties": "属性",
}

PROBLEMS: dict[ProblemKind, str] = {
    ProblemKind.MISSING_FIELD: "缺少必填字段",
    ProblemKind.MALFORMED_CODE: "代码格式错误（网格14位、街道9位、社区12位、部件16位数字）",
    ProblemKind.DUPLICATE_CODE: "代码重复，与第{first}个要素相同",
    ProblemKind.UNKNOWN_TYPE: "部件类型 {type} 不在 CJ/T 214 部件分类表中",
    ProblemKind.BAD_VALUE: "取值无效：{value}",
    ProblemKind.MISSING_GEOMETRY: "缺少几何图形",
    ProblemKind.WRONG_GEOMETRY_TYPE: "几何类型错误：是{type}，应为{expected}",
    ProblemKind.INVALID_GEOMETRY: "几何图形无效：{reason}",
    ProblemKind.SELF_INTERSECTION: "多边形自相交：{reason}",
    ProblemKind.OUT_OF_RANGE: "坐标不是经纬度",
    ProblemKind.OVERLAP: "与网格 {other} 重叠 {area_m2} 平方米",
    ProblemKind.GAP: "网格之间有 {area_m2} 平方米的空隙未被覆盖（相邻网格：{grids}）",
    ProblemKind.AREA_UNUSUAL: "面积 {area_m2} 平方米，与万米单元网格的约 10000 平方米相差过大",
    ProblemKind.OUTSIDE_GRIDS: "位置（{lon}, {lat}）不在任何单元网格内",
    ProblemKind.NO_GRIDS: "尚未导入单元网格，请先导入网格",
    ProblemKind.EMPTY_FILE: "文件中没有要素",
    ProblemKind.SUSPECTED_GCJ02: (
        "坐标疑似 GCJ-02（国测局坐标，国内网络地图常用）却按 WGS-84 读入："
        "按 WGS-84 读，{outside_given}与已有基础数据的距离中位数约 {given_m} 米；"
        "按 GCJ-02 换算后，{outside_converted}距离中位数约 {converted_m} 米。"
        "请加 --crs gcj02 重新导入（自动换算）；如确认文件是 WGS-84/CGCS2000 坐标，"
        "请明确加 --crs wgs84 导入"
    ),
}

SEVERITY = {Severity.ERROR: "错误", Severity.WARNING: "警告"}

#: GeoJSON geometry types as the problem lines name them
GEOMETRY_TYPES = {
    "Point": "点",
    "MultiPoint": "多点",
    "LineString": "线",
    "MultiLineString": "多线",
    "Polygon": "多边形",
    "MultiPolygon": "多个多边形",
    "GeometryCollection": "几何集合",
    "None": "无",
}

#: GEOS's reasons for an invalid polygon (shapely.is_valid_reason), by their English head,
#: and shapely's refusals of a malformed ring; the rest of the text is its location
GEOMETRY_REASONS = {
    "Ring Self-intersection": "边界环自身相交",
    "Self-intersection": "边界自相交",
    "Hole lies outside shell": "内洞在外边界之外",
    "Holes are nested": "内洞互相嵌套",
    "Interior is disconnected": "内部被分割成不相连的部分",
    "Nested shells": "外边界互相嵌套",
    "Duplicate Rings": "边界环重复",
    "Too few points in geometry component": "边界点数太少",
    "Invalid Coordinate": "坐标值无效",
    "Ring is not closed": "边界环未闭合",
    "Repeated Point": "有重复点",
    "A linearring requires at least 4 coordinates": "边界环至少需要 4 个坐标点",
}


def geometry_reason(reason: str) -> str:
    """A geometry problem's reason in Chinese: ``Self-intersection[119.2 34.6]`` becomes
    ``边界自相交，位于 (119.2, 34.6)``; a reason not in `GEOMETRY_REASONS` is said as
    无法解析的几何图形 with no English."""
    for head, said in GEOMETRY_REASONS.items():
        if reason.startswith(head):
            where = reason[len(head) :].strip(" .")
            if where.startswith("[") and where.endswith("]"):
                return f"{said}，位于 ({', '.join(where[1:-1].split())})"
            return said
    return "无法解析的几何图形"


MESSAGES = {
    "unreadable": "无法读取文件 {path}：{reason}",
    "refused": "{kind}导入被拒绝：共 {read} 个要素，{errors} 个错误，数据库未作任何修改。",
    "stored": "{kind}导入完成：读取 {read} 个，保存 {stored} 个。",
    "derived": "已由网格生成街道、社区边界 {count} 个。",
    "outside": "注意：已有部件中 {count} 个不在新网格内。",
    "warnings": "警告 {count} 个。",
    "located": "网格 {code}（{district} {street} {community}）",
    "outside_area": "不在管理区域内：({lon}, {lat}) 不属于任何单元网格。",
    "no_grids": "尚未导入单元网格。",
    "demo_written": "演示数据已写入 {path}：网格 {grids} 个，部件 {components} 个，门牌地址 {addresses} 个。",
}


def problem_line(problem: Problem) -> str:
    """``错误 第12个要素（32070600100101）字段「几何」：多边形自相交：...``."""
    where = f"第{problem.feature}个要素" if problem.feature else "文件"
    if problem.code:
        where += f"（{problem.code}）"
    field = FIELD_NAMES.get(problem.field, problem.field)
    values = dict(problem.values)
    if "reason" in values:
        values["reason"] = geometry_reason(str(values["reason"]))
    if problem.kind is ProblemKind.WRONG_GEOMETRY_TYPE:
        for key in ("type", "expected"):
            values[key] = GEOMETRY_TYPES.get(str(values.get(key)), "未知类型")
    try:
        text = PROBLEMS[problem.kind].format(**values)
    except (KeyError, IndexError):
        text = PROBLEMS[problem.kind]
    return f"{SEVERITY[problem.severity]} {where}字段「{field}」：{text}"
