from django.contrib import admin

from arkindex.corpora.models import Corpus, CorpusMembership


class CorpusMembershipInline(admin.TabularInline):
    model = CorpusMembership
    autocomplete_fields = ["user"]
    extra = 0


@admin.register(Corpus)
class CorpusAdmin(admin.ModelAdmin):
    list_display = ["name", "public", "created"]
    list_filter = ["public"]
    search_fields = ["name"]
    inlines = [CorpusMembershipInline]
