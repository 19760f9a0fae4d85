"""Chinese names of the detector labels, for people: the one table of them.

Rules, zones and model cards speak English labels (``car``, ``fallen_person``); what a
person reads says them in Chinese: the case titles the video gateway writes
(`gateway.video.analysis.rules`) and the console's 识别目标, which the core serves at
``/api/v1/locale``. Keys are the labels of the model cards in ``models/cards`` and every
COCO class name, as a card writes it (``dining table``) and as an identifier
(``dining_table``).
"""

from __future__ import annotations

OBJECT_LABELS: dict[str, str] = {
    # the labels rules speak about (models/cards/*.yaml `labels`)
    "person": "行人",
    "fallen_person": "倒地人员",
    "vehicle": "车辆",
    "car": "小汽车",
    "truck": "货车",
    "bus": "公交车",
    "motorcycle": "摩托车",
    "bicycle": "自行车",
    "umbrella": "遮阳伞",
    "chair": "椅子",
    "table": "桌子",
    "dining table": "桌子",
    "bench": "长椅",
    "suitcase": "箱包",
    "backpack": "背包",
    "handbag": "手提包",
    # the fall model's own class names
    "Normal": "行人",
    "Fall": "倒地人员",
    # the rest of COCO's 80 classes
    "airplane": "飞机",
    "train": "火车",
    "boat": "船只",
    "traffic light": "交通信号灯",
    "fire hydrant": "消防栓",
    "stop sign": "停车标志",
    "parking meter": "停车咪表",
    "bird": "鸟",
    "cat": "猫",
    "dog": "狗",
    "horse": "马",
    "sheep": "羊",
    "cow": "牛",
    "elephant": "大象",
    "bear": "熊",
    "zebra": "斑马",
    "giraffe": "长颈鹿",
    "tie": "领带",
    "frisbee": "飞盘",
    "skis": "滑雪板",
    "snowboard": "单板滑雪板",
    "sports ball": "球",
    "kite": "风筝",
    "baseball bat": "棒球棒",
    "baseball glove": "棒球手套",
    "skateboard": "滑板",
    "surfboard": "冲浪板",
    "tennis racket": "网球拍",
    "bottle": "瓶子",
    "wine glass": "酒杯",
    "cup": "杯子",
    "fork": "叉子",
    "knife": "刀",
    "spoon": "勺子",
    "bowl": "碗",
    "banana": "香蕉",
    "apple": "苹果",
    "sandwich": "三明治",
    "orange": "橙子",
    "broccoli": "西兰花",
    "carrot": "胡萝卜",
    "hot dog": "热狗",
    "pizza": "披萨",
    "donut": "甜甜圈",
    "cake": "蛋糕",
    "couch": "沙发",
    "potted plant": "盆栽",
    "bed": "床",
    "toilet": "马桶",
    "tv": "电视",
    "laptop": "笔记本电脑",
    "mouse": "鼠标",
    "remote": "遥控器",
    "keyboard": "键盘",
    "cell phone": "手机",
    "microwave": "微波炉",
    "oven": "烤箱",
    "toaster": "烤面包机",
    "sink": "水槽",
    "refrigerator": "冰箱",
    "book": "书",
    "clock": "钟",
    "vase": "花瓶",
    "scissors": "剪刀",
    "teddy bear": "玩具熊",
    "hair drier": "吹风机",
    "toothbrush": "牙刷",
}
OBJECT_LABELS.update({k.replace(" ", "_"): v for k, v in list(OBJECT_LABELS.items()) if " " in k})

#: said when a detection has no label, or one this table does not know
UNKNOWN_OBJECT = "目标"


def object_name(label: str | None) -> str:
    """The Chinese name of a detector label; `UNKNOWN_OBJECT` for one not in the table."""
    return OBJECT_LABELS.get(label or "", UNKNOWN_OBJECT)
