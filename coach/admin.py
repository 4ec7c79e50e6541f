from django.contrib import admin
from django.utils.translation import gettext_lazy as _

from coach.models import Coach, DailyUsage, SiteUsage


@admin.register(Coach)
class CoachAdmin(admin.ModelAdmin):
    list_display = ("name", "slug", "is_active", "position", "updated_at")
    list_editable = ("is_active", "position")
    list_filter = ("is_active",)
    search_fields = ("name", "slug", "description", "system_prompt")
    prepopulated_fields = {"slug": ("name",)}
    readonly_fields = ("created_at", "updated_at")
    # English and Korean side by side: a tuple is one row of the form.
    fieldsets = (
        (None, {"fields": ("slug", ("is_active", "position"))}),
        (
            _("Name and description (English, Korean)"),
            {"fields": (("name", "name_ko"), ("description", "description_ko"))},
        ),
        (
            _("What the model is told (English, Korean)"),
            {"fields": (("system_prompt", "system_prompt_ko"), ("few_shot", "few_shot_ko"))},
        ),
        (
            _("Preset answers"),
            {
                "fields": ("state_options", "goal_options", "option_labels_ko"),
                "description": _(
                    "The options are stable values (English), the same for sessions in any "
                    "language; give each one's words in Korean below."
                ),
            },
        ),
        (_("History"), {"fields": ("created_at", "updated_at")}),
    )


@admin.register(SiteUsage)
class SiteUsageAdmin(admin.ModelAdmin):
    """The whole site's model requests and tokens per day, against its budget."""

    list_display = ("day", "requests", "tokens")
    date_hierarchy = "day"

    def has_add_permission(self, request) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False


@admin.register(DailyUsage)
class DailyUsageAdmin(admin.ModelAdmin):
    list_display = ("user", "day", "count")
    list_filter = ("day",)
    search_fields = ("user__username",)
    date_hierarchy = "day"
    raw_id_fields = ("user",)
