"""Checklist items a manual record may carry, per record type, with zh-CN / English labels.

Patrol items follow 公安部令第61号 art. 25, periodic checks art. 26 and Baotou art. 38 (fire
facilities, electrical systems, structure), equipment tests the schedules of RULES.md C.
"""

from __future__ import annotations

from ingest_server.inspection_log._models import Category

__all__ = ["CHECKLISTS", "checklist_label"]

CHECKLISTS: dict[Category, dict[str, tuple[str, str]]] = {
    Category.PATROL: {
        "electrical_use": ("用火用电无违章", "No unsafe use of fire or electricity"),
        "exits_clear": ("安全出口、疏散通道畅通", "Exits and escape routes clear"),
        "exit_signs_lighting": (
            "疏散指示标志、应急照明完好",
            "Exit signs and emergency lights work",
        ),
        "equipment_in_place": ("消防设施、器材在位完整", "Fire equipment in place and intact"),
        "fire_doors_closed": ("常闭式防火门处于关闭状态", "Normally-closed fire doors are closed"),
        "key_areas_staffed": ("消防安全重点部位人员在岗", "Key fire-safety areas staffed"),
        "night_patrol": ("夜间巡查", "Night patrol"),
    },
    Category.PERIODIC_CHECK: {
        "fire_facilities": ("消防设施", "Fire facilities"),
        "electrical_system": ("电气系统", "Electrical system"),
        "building_structure": ("建筑结构", "Building structure"),
        "extinguishers": ("灭火器", "Fire extinguishers"),
        "alarm_system": ("火灾自动报警系统", "Fire alarm system"),
        "emergency_lighting": ("应急照明", "Emergency lighting"),
        "evacuation_plan": ("应急预案与疏散图", "Emergency plan and evacuation map"),
        "staff_training": ("员工消防培训", "Staff fire-safety training"),
        "gas_kitchen": ("厨房燃气", "Kitchen gas"),
    },
    Category.EQUIPMENT_TEST: {
        "smoke_functional": ("感烟探测器功能试验", "Smoke detector functional test"),
        "smoke_sensitivity": ("感烟探测器灵敏度测试", "Smoke detector sensitivity test"),
        "smoke_visual": ("感烟探测器外观检查", "Smoke detector visual inspection"),
        "fire_door_annual": ("防火门年度检查", "Fire door annual inspection"),
        "light_monthly": ("应急照明月度30秒测试", "Emergency lighting 30 s monthly test"),
        "light_annual": ("应急照明年度90分钟测试", "Emergency lighting 90 min annual test"),
        "extinguisher_monthly": ("灭火器月度检查", "Extinguisher monthly inspection"),
        "system_annual": ("消防系统年度全面检测", "Fire system annual full test"),
    },
    Category.MAINTENANCE: {
        "cleaned": ("清洁", "Cleaned"),
        "repaired": ("维修", "Repaired"),
        "parts_replaced": ("更换部件", "Parts replaced"),
        "battery_replaced": ("更换电池", "Battery replaced"),
        "retest_passed": ("维修后复测合格", "Retest after maintenance passed"),
        "record_signed": ("记录已签字", "Record signed"),
    },
}


def checklist_label(category: Category, item: str, lang: str) -> str:
    """The label of a checklist item in ``lang`` ("zh" or "en"); the id if unknown."""
    labels = CHECKLISTS.get(category, {}).get(item)
    if labels is None:
        return item
    return labels[0] if lang == "zh" else labels[1]
