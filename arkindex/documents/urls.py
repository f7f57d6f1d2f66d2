"""Paths of the document operations, as Arkindex names them."""

from django.urls import path

from arkindex.documents.api.element_types import ElementTypeCreate
from arkindex.documents.api.elements import (
    CorpusElementList,
    ElementChildrenList,
    ElementCreate,
    ElementParentsList,
    ElementRetrieve,
)
from arkindex.documents.api.transcriptions import (
    TranscriptionBulkCreate,
    TranscriptionCreate,
    TranscriptionList,
)

urlpatterns = [
    path("elements/type/", ElementTypeCreate.as_view(), name="element-type-create"),
    path("elements/create/", ElementCreate.as_view(), name="element-create"),
    path("element/<uuid:id>/", ElementRetrieve.as_view(), name="element-retrieve"),
    path("corpus/<uuid:corpus>/elements/", CorpusElementList.as_view(), name="corpus-elements"),
    path("elements/<uuid:id>/children/", ElementChildrenList.as_view(), name="element-children"),
    path("elements/<uuid:id>/parents/", ElementParentsList.as_view(), name="element-parents"),
    path(
        "element/<uuid:id>/transcription/",
        TranscriptionCreate.as_view(),
        name="transcription-create",
    ),
    path(
        "element/<uuid:id>/transcriptions/",
        TranscriptionList.as_view(),
        name="element-transcriptions",
    ),
    path("transcription/bulk/", TranscriptionBulkCreate.as_view(), name="transcription-bulk"),
]
