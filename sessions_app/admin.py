from django.contrib import admin

from sessions_app.models import CoachingSession, Message, Prompt


class PromptInline(admin.TabularInline):
    model = Prompt
    extra = 0
    fields = ("kind", "tags", "text")


class MessageInline(admin.StackedInline):
    model = Message
    extra = 0
    fields = (
        "role",
        "status",
        "content",
        "error",
        "model_name",
        "finish_reason",
        "replaces",
        "prompt_tokens",
        "completion_tokens",
    )
    readonly_fields = (
        "model_name",
        "finish_reason",
        "replaces",
        "prompt_tokens",
        "completion_tokens",
    )


@admin.register(CoachingSession)
class CoachingSessionAdmin(admin.ModelAdmin):
    list_display = ("title", "coach", "owner", "language", "created_at")
    list_filter = ("coach", "language", "created_at")
    search_fields = ("title", "owner__username", "prompts__text")
    date_hierarchy = "created_at"
    raw_id_fields = ("owner",)
    readonly_fields = ("created_at", "updated_at")
    inlines = [PromptInline, MessageInline]

    def get_queryset(self, request):
        return super().get_queryset(request).select_related("coach", "owner")


@admin.register(Prompt)
class PromptAdmin(admin.ModelAdmin):
    list_display = ("session", "kind", "created_at")
    list_filter = ("kind",)
    search_fields = ("text", "session__title")
    raw_id_fields = ("session",)


@admin.register(Message)
class MessageAdmin(admin.ModelAdmin):
    list_display = ("session", "role", "status", "finish_reason", "model_name", "created_at")
    list_filter = ("role", "status", "finish_reason", "model_name")
    search_fields = ("content", "session__title")
    raw_id_fields = ("session", "replaces")
    readonly_fields = ("created_at",)
