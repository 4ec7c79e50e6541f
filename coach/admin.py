from django.contrib import admin

from coach.models import Coach, DailyUsage


@admin.register(Coach)
class CoachAdmin(admin.ModelAdmin):
    list_display = ("name", "slug", "is_active", "position", "updated_at")
    list_editable = ("is_active", "position")
    list_filter = ("is_active",)
    search_fields = ("name", "slug", "description", "system_prompt")
    prepopulated_fields = {"slug": ("name",)}
    readonly_fields = ("created_at", "updated_at")


@admin.register(DailyUsage)
class DailyUsageAdmin(admin.ModelAdmin):
    list_display = ("user", "day", "count")
    list_filter = ("day",)
    search_fields = ("user__username",)
    date_hierarchy = "day"
    raw_id_fields = ("user",)
