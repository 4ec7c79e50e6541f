"""`/knowledge/?q=…&coach=…`: the coaches' libraries searched by meaning; a passage's page.
Public."""

from __future__ import annotations

import logging

from django.shortcuts import get_object_or_404, render
from django.views import View

from coach.llm import LLMError
from knowledge.forms import SearchForm
from knowledge.models import DocumentStatus, Passage
from knowledge.search import library_search
from knowledge.selectors import library_state

logger = logging.getLogger(__name__)


class SearchView(View):
    template_name = "knowledge/search.html"

    def get(self, request):
        form = SearchForm(request.GET or None)
        context = {"form": form, "hits": None, "search_error": ""}
        status = 200
        if form.is_bound and form.is_valid():
            coach = form.cleaned_data["coach"]
            try:
                result = library_search(query=form.cleaned_data["q"], coach=coach)
            except LLMError as exc:
                context["search_error"] = str(exc)
                context["state"] = library_state(coach_id=coach.pk if coach else None)
                status = 503
            else:
                context.update(hits=result.hits, state=result.state)
        else:
            if form.is_bound:
                status = 400
            context["state"] = library_state()
        return render(request, self.template_name, context, status=status)


class PassageView(View):
    template_name = "knowledge/passage.html"

    def get(self, request, pk: int):
        passage = get_object_or_404(
            Passage.objects.select_related("document", "coach"),
            pk=pk,
            coach__is_active=True,
        )
        neighbours = Passage.objects.filter(
            document_id=passage.document_id,
            ordinal__in=[passage.ordinal - 1, passage.ordinal + 1],
        ).only("pk", "ordinal", "heading_path")
        return render(
            request,
            self.template_name,
            {
                "passage": passage,
                "document": passage.document,
                "searchable": passage.document.status == DocumentStatus.READY,
                "previous": next((p for p in neighbours if p.ordinal < passage.ordinal), None),
                "next": next((p for p in neighbours if p.ordinal > passage.ordinal), None),
            },
        )
