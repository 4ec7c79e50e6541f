"""Korean for the starter coaches. Fills only what is still blank: never overwrites edits."""

from django.db import migrations

KOREAN = {
    "meditation-guide": {
        "name_ko": "명상 가이드",
        "description_ko": "지금 기분과 필요한 것을 알려 주세요. 짧은 명상과 함께 들을 음악을 추천해 드려요.",
        "system_prompt_ko": (
            "당신은 Stepwise의 명상 가이드이며 호흡법, 바디 스캔, 자애 명상, 걷기 명상, "
            "시각화, 소리 명상 같은 명상 방법의 전문가입니다. 사용자는 지금의 상태, 원하는 것, "
            "그 밖에 중요한 점을 알려 줍니다. 잘 맞는 명상 방법 하나를 추천하고, 왜 맞는지 한 "
            "문장으로 설명한 뒤, 지금 바로 따라 할 수 있는 단계를 번호를 붙여 각 단계의 시간과 "
            "함께 알려 주세요. 함께 틀어 둘 음악이나 소리도 하나 제안하세요. 따뜻하고 차분하며 "
            "구체적으로 답하세요. 한국어로 답하세요. 당신은 치료사가 아닙니다. 사용자가 자해나 "
            "위기 상황을 말하면 가까운 응급 도움(한국에서는 109 자살예방상담전화)에 연락하도록 "
            "부드럽게 권하세요."
        ),
        "few_shot_ko": [
            {
                "role": "user",
                "content": "## 지금 나의 상태\n불안해요\n## 내가 원하는 것\n깊은 휴식\n## 그 밖에 (시간, 제약, 선호)\n자기 전 10분",
            },
            {
                "role": "assistant",
                "content": (
                    "**4-7-8 호흡과 바디 스캔**은 불안한 마음을 가라앉히고 몸이 잠들 준비를 "
                    "하게 도와줘요.\n\n1. 누워서 눈을 감으세요 (1분).\n"
                    "2. 넷을 세며 들이쉬고, 일곱을 세며 멈추고, 여덟을 세며 내쉬세요. 네 번 "
                    "반복해요 (2분).\n3. 발끝에서 머리까지 천천히 주의를 옮기며 각 부분의 힘을 "
                    "빼세요 (6분).\n4. 호흡을 자연스럽게 두고 쉬세요 (1분).\n\n"
                    "**음악:** 가사 없는 느린 앰비언트나 잔잔한 빗소리."
                ),
            },
        ],
        "option_labels_ko": {
            "anxious": "불안해요",
            "tired": "피곤해요",
            "distracted": "산만해요",
            "low": "기운이 없어요",
            "stressed": "스트레스를 받아요",
            "restless": "안절부절못해요",
            "deep rest": "깊은 휴식",
            "focus": "집중",
            "energy back": "활력 되찾기",
            "lift my mood": "기분 전환",
            "calm down": "마음 가라앉히기",
        },
    },
    "career-coach": {
        "name_ko": "커리어 코치",
        "description_ko": "지금 일에서 어디에 서 있는지, 어디로 가고 싶은지 알려 주세요. 매주 작은 단계로 된 계획을 드려요.",
        "system_prompt_ko": (
            "당신은 Stepwise의 커리어 코치입니다. 실용적이고 격려하며 구체적으로 말합니다. "
            "사용자는 지금 일에서의 위치, 원하는 목표, 제약을 설명합니다. 두 문장으로 짧게 "
            "현재 상황을 평가한 뒤, 앞으로 4주 동안의 구체적인 단계 3~5개를 번호를 붙여 "
            "제시하고 각 단계에 측정할 수 있는 결과를 적으세요. 마지막으로 계획을 다듬는 데 "
            "도움이 될 질문을 하나 하세요. 뻔한 조언은 피하세요. 한국어로 답하세요."
        ),
        "option_labels_ko": {
            "student": "학생",
            "junior developer": "주니어 개발자",
            "stuck in my current role": "지금 자리에서 정체됨",
            "between jobs": "구직 중",
            "changing careers": "진로를 바꾸는 중",
            "leading a team": "팀을 이끄는 중",
            "land my first job": "첫 직장 구하기",
            "get promoted": "승진하기",
            "switch to a new field": "새 분야로 옮기기",
            "build a portfolio": "포트폴리오 만들기",
            "negotiate a raise": "연봉 협상하기",
        },
    },
    "health-habits": {
        "name_ko": "건강 습관 코치",
        "description_ko": "수면, 운동, 식사, 화면 시간 중 한 번에 하나씩 건강한 습관을 만들어요.",
        "system_prompt_ko": (
            "당신은 Stepwise의 건강 습관 코치입니다. 습관 쌓기, 아주 작은 첫걸음, 기록을 "
            "이용해 작고 오래가는 습관을 만들도록 돕습니다. 사용자가 말한 지금의 상태, 목표, "
            "제약을 바탕으로 이번 주에 시작할 습관 하나, 정확한 신호와 아주 작은 첫 행동, "
            "기록하는 방법, 4주에 걸쳐 키우는 방법을 번호를 붙여 제안하세요. 의학적 진단은 "
            "하지 말고, 증상이 있으면 전문가를 만나 보라고 권하세요. 한국어로 답하세요."
        ),
        "option_labels_ko": {
            "sleeping badly": "잠을 잘 못 자요",
            "sitting all day": "하루 종일 앉아 있어요",
            "eating irregularly": "식사가 불규칙해요",
            "too much screen time": "화면을 너무 오래 봐요",
            "low energy": "기운이 없어요",
            "sleep better": "더 잘 자기",
            "move every day": "매일 움직이기",
            "eat regular meals": "규칙적으로 식사하기",
            "less screen time": "화면 시간 줄이기",
            "drink more water": "물 더 마시기",
        },
    },
}


def add_korean(apps, schema_editor):
    Coach = apps.get_model("coach", "Coach")
    for slug, fields in KOREAN.items():
        coach = Coach.objects.filter(slug=slug).first()
        if coach is None:
            continue
        changed = []
        for name, value in fields.items():
            if name == "option_labels_ko":
                # Only the options the coach still offers, and only words not yet given.
                options = set(coach.state_options) | set(coach.goal_options)
                merged = {k: v for k, v in value.items() if k in options}
                merged.update(coach.option_labels_ko or {})
                if merged != (coach.option_labels_ko or {}):
                    coach.option_labels_ko = merged
                    changed.append(name)
            elif not getattr(coach, name):
                setattr(coach, name, value)
                changed.append(name)
        if changed:
            coach.save(update_fields=changed)


class Migration(migrations.Migration):
    dependencies = [("coach", "0003_coach_korean")]

    operations = [migrations.RunPython(add_korean, migrations.RunPython.noop)]
