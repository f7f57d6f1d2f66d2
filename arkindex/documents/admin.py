"""Admin pages that cope with million-row tables: foreign keys as raw ids (no select of
every row), no full count of a filtered list, orderings and searches that use an index, and
list rows that need no query of their own."""

from django.contrib import admin

from arkindex.documents.models import Element, ElementType, Transcription


@admin.register(ElementType)
class ElementTypeAdmin(admin.ModelAdmin):
    list_display = ["slug", "display_name", "folder", "corpus"]
    list_select_related = ["corpus"]
    search_fields = ["slug", "display_name"]
    raw_id_fields = ["corpus"]
    # The unique (corpus, slug) index.
    ordering = ["corpus_id", "slug"]
    show_full_result_count = False


@admin.register(Element)
class ElementAdmin(admin.ModelAdmin):
    list_display = ["id", "name", "type", "corpus", "created"]
    list_select_related = ["type", "corpus"]
    # An exact id is a primary key lookup; a name search would scan the table.
    search_fields = ["=id"]
    # The primary key index.
    ordering = ["id"]
    show_full_result_count = False
    fields = ["id", "corpus", "type", "name", "confidence", "worker_run", "created", "updated"]
    readonly_fields = ["id", "corpus", "type", "worker_run", "created", "updated"]

    def has_add_permission(self, request):
        # Elements are created through the API, which also records their place in the
        # graph (arkindex.documents.elements).
        return False

    def has_delete_permission(self, request, obj=None):
        # Deleting an element in the middle of the graph would leave paths through it;
        # deleting the corpus deletes all of its elements.
        return False


@admin.register(Transcription)
class TranscriptionAdmin(admin.ModelAdmin):
    list_display = ["id", "element", "orientation", "confidence", "worker_run_id", "created"]
    list_select_related = ["element"]
    search_fields = ["=id"]
    raw_id_fields = ["element", "worker_run"]
    ordering = ["id"]
    show_full_result_count = False
