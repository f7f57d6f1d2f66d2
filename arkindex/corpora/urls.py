from django.urls import path

from arkindex.corpora.api import CorpusDetail, CorpusList, CorpusMembershipList

urlpatterns = [
    path("corpus/", CorpusList.as_view(), name="corpus-list"),
    path("corpus/<uuid:id>/", CorpusDetail.as_view(), name="corpus-detail"),
    path(
        "corpus/<uuid:id>/memberships/",
        CorpusMembershipList.as_view(),
        name="corpus-memberships",
    ),
]
