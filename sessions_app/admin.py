from django import forms
from django.contrib import admin, messages
from django.contrib.admin.helpers import ACTION_CHECKBOX_NAME
from django.core.exceptions import ValidationError
from django.db.models import Count, IntegerField, OuterRef, Subquery
from django.db.models.functions import Coalesce
from django.shortcuts import render
from django.urls import reverse
from django.utils.html import format_html
from django.utils.translation import gettext_lazy as _
from django.utils.translation import ngettext

from sessions_app.models import CoachingSession, Message, Prompt, SessionReport
from sessions_app.services import session_hide, session_unhide


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


class ReportInline(admin.TabularInline):
    """The session's reports, to read; they are resolved from the reports' own list."""

    model = SessionReport
    extra = 0
    max_num = 0
    can_delete = False
    fields = ("created_at", "reason", "note", "reporter", "resolved")
    readonly_fields = fields
    ordering = ("-created_at", "-id")


class HideReasonForm(forms.Form):
    hidden_reason = forms.CharField(
        label=_("Why are these sessions hidden? Their owners will read it."),
        widget=forms.Textarea(attrs={"rows": 3}),
    )


def hide_sessions_action(modeladmin, request, sessions, *, title):
    """An admin action in two steps: ask the reason on a page of its own, then hide."""
    sessions = list(sessions)
    form = HideReasonForm(request.POST if "apply" in request.POST else None)
    if form.is_valid():
        reason = form.cleaned_data["hidden_reason"]
        for session in sessions:
            session_hide(session=session, by=request.user, reason=reason)
        count = len(sessions)
        modeladmin.message_user(
            request,
            ngettext("%(n)d session is hidden.", "%(n)d sessions are hidden.", count)
            % {"n": count},
            messages.SUCCESS,
        )
        return None
    context = {
        **modeladmin.admin_site.each_context(request),
        "title": title,
        "opts": modeladmin.model._meta,
        "form": form,
        "sessions": sessions,
        "selected": request.POST.getlist(ACTION_CHECKBOX_NAME),
        "action": request.POST.get("action", ""),
        "action_checkbox_name": ACTION_CHECKBOX_NAME,
    }
    return render(request, "admin/sessions_app/hide_sessions.html", context)


class HiddenFilter(admin.SimpleListFilter):
    title = _("hidden")
    parameter_name = "hidden"

    def lookups(self, request, model_admin):
        return (("yes", _("Hidden")), ("no", _("Public")))

    def queryset(self, request, queryset):
        if self.value() == "yes":
            return queryset.filter(hidden_at__isnull=False)
        if self.value() == "no":
            return queryset.filter(hidden_at__isnull=True)
        return queryset


class ReportedFilter(admin.SimpleListFilter):
    title = _("reports")
    parameter_name = "reported"

    def lookups(self, request, model_admin):
        return (("open", _("With open reports")), ("any", _("Reported")))

    def queryset(self, request, queryset):
        if self.value() == "open":
            return queryset.filter(open_reports__gt=0)
        if self.value() == "any":
            return queryset.filter(reports_total__gt=0)
        return queryset


class CoachingSessionAdminForm(forms.ModelForm):
    hidden = forms.BooleanField(
        label=_("Hidden from the gallery and the public API"),
        required=False,
        help_text=_("Only its owner and staff can then see it. Say why below."),
    )

    class Meta:
        model = CoachingSession
        fields = (
            "title",
            "owner",
            "coach",
            "language",
            "hidden_reason",
            "system_prompt",
            "few_shot",
        )

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["hidden"].initial = self.instance.hidden_at is not None

    def clean(self):
        cleaned = super().clean()
        if cleaned.get("hidden") and not (cleaned.get("hidden_reason") or "").strip():
            self.add_error(
                "hidden_reason",
                ValidationError(_("Say why the session is hidden: its owner will read it.")),
            )
        return cleaned


def _report_count(**filters):
    return Coalesce(
        Subquery(
            SessionReport.objects.filter(session=OuterRef("pk"), **filters)
            .order_by()
            .values("session")
            .annotate(n=Count("pk"))
            .values("n"),
            output_field=IntegerField(),
        ),
        0,
    )


@admin.register(CoachingSession)
class CoachingSessionAdmin(admin.ModelAdmin):
    form = CoachingSessionAdminForm
    list_display = ("title", "coach", "owner", "language", "created_at", "hidden", "reports")
    list_filter = (HiddenFilter, ReportedFilter, "coach", "language", "created_at")
    search_fields = ("title", "owner__username", "prompts__text")
    date_hierarchy = "created_at"
    raw_id_fields = ("owner",)
    readonly_fields = ("created_at", "updated_at", "hidden_at", "hidden_by", "reports")
    fieldsets = (
        (None, {"fields": ("title", "owner", "coach", "language", "created_at", "updated_at")}),
        (
            _("Moderation"),
            {"fields": ("reports", "hidden", "hidden_reason", "hidden_at", "hidden_by")},
        ),
        (_("Snapshot of the coach"), {"fields": ("system_prompt", "few_shot")}),
    )
    inlines = [ReportInline, PromptInline, MessageInline]
    actions = ["hide_sessions", "unhide_sessions"]

    def get_queryset(self, request):
        return (
            super()
            .get_queryset(request)
            .select_related("coach", "owner")
            .annotate(
                open_reports=_report_count(resolved=False),
                reports_total=_report_count(),
            )
        )

    @admin.display(boolean=True, description=_("hidden"), ordering="hidden_at")
    def hidden(self, session: CoachingSession) -> bool:
        return session.hidden_at is not None

    @admin.display(description=_("reports"), ordering="open_reports")
    def reports(self, session: CoachingSession) -> str:
        total = getattr(session, "reports_total", None)
        if total is None:  # a new session's form
            return "-"
        if not total:
            return "0"
        url = reverse("admin:sessions_app_sessionreport_changelist") + (
            f"?session__id__exact={session.pk}"
        )
        label = _("%(open)d open of %(total)d") % {"open": session.open_reports, "total": total}
        return format_html('<a href="{}">{}</a>', url, label)

    def save_model(self, request, obj, form, change):
        was_hidden = obj.hidden_at is not None
        super().save_model(request, obj, form, change)
        if form.cleaned_data.get("hidden"):
            if not was_hidden or "hidden_reason" in form.changed_data:
                session_hide(session=obj, by=request.user, reason=obj.hidden_reason)
        elif was_hidden:
            session_unhide(session=obj, by=request.user)

    @admin.action(description=_("Hide the selected sessions…"))
    def hide_sessions(self, request, queryset):
        return hide_sessions_action(
            self, request, queryset, title=_("Hide sessions from the gallery")
        )

    @admin.action(description=_("Show the selected hidden sessions again"))
    def unhide_sessions(self, request, queryset):
        hidden = list(queryset.filter(hidden_at__isnull=False))
        for session in hidden:
            session_unhide(session=session, by=request.user)
        self.message_user(
            request,
            ngettext(
                "%(n)d session is public again.", "%(n)d sessions are public again.", len(hidden)
            )
            % {"n": len(hidden)},
            messages.SUCCESS,
        )


class SessionHiddenFilter(HiddenFilter):
    title = _("session hidden")

    def queryset(self, request, queryset):
        if self.value() == "yes":
            return queryset.filter(session__hidden_at__isnull=False)
        if self.value() == "no":
            return queryset.filter(session__hidden_at__isnull=True)
        return queryset


@admin.register(SessionReport)
class SessionReportAdmin(admin.ModelAdmin):
    """Reports come from the site; staff read them, hide the session, resolve them."""

    list_display = ("created_at", "session_link", "reason", "short_note", "reporter", "resolved")
    list_filter = ("resolved", "reason", SessionHiddenFilter, "created_at")
    search_fields = ("session__title", "note", "reporter__username", "address_hash")
    date_hierarchy = "created_at"
    list_select_related = ("session", "reporter")
    fields = (
        "session_link",
        "reason",
        "note",
        "reporter",
        "address_hash",
        "created_at",
        "resolved",
    )
    readonly_fields = ("session_link", "reason", "note", "reporter", "address_hash", "created_at")
    actions = ["mark_resolved", "mark_open", "hide_reported_sessions"]

    def has_add_permission(self, request):
        return False

    @admin.display(description=_("session"), ordering="session__created_at")
    def session_link(self, report: SessionReport) -> str:
        url = reverse("admin:sessions_app_coachingsession_change", args=[report.session_id])
        hidden = _(" (hidden)") if report.session.hidden_at else ""
        return format_html('<a href="{}">{}</a>{}', url, report.session.title, hidden)

    @admin.display(description=_("note"))
    def short_note(self, report: SessionReport) -> str:
        return report.note if len(report.note) <= 80 else report.note[:79] + "…"

    @admin.action(description=_("Mark the selected reports as resolved"))
    def mark_resolved(self, request, queryset):
        n = queryset.filter(resolved=False).update(resolved=True)
        self.message_user(
            request,
            ngettext("%(n)d report resolved.", "%(n)d reports resolved.", n) % {"n": n},
            messages.SUCCESS,
        )

    @admin.action(description=_("Mark the selected reports as open"))
    def mark_open(self, request, queryset):
        n = queryset.filter(resolved=True).update(resolved=False)
        self.message_user(
            request,
            ngettext("%(n)d report is open again.", "%(n)d reports are open again.", n) % {"n": n},
            messages.SUCCESS,
        )

    @admin.action(description=_("Hide the reported sessions…"))
    def hide_reported_sessions(self, request, queryset):
        sessions = CoachingSession.objects.filter(
            pk__in=queryset.values("session_id")
        ).select_related("owner")
        return hide_sessions_action(
            self, request, sessions, title=_("Hide the reported sessions from the gallery")
        )


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
