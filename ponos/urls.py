from django.urls import path

from ponos.api.agents import AgentActions, AgentCreate, AgentList
from ponos.api.artifacts import ArtifactDownload, ArtifactList
from ponos.api.farms import FarmList
from ponos.api.logs import LogPieceCreate
from ponos.api.tasks import TaskCreate, TaskDefinition, TaskDetail, TaskRestart

urlpatterns = [
    path("farms/", FarmList.as_view(), name="farm-list"),
    path("agent/", AgentCreate.as_view(), name="agent-create"),
    path("agent/actions/", AgentActions.as_view(), name="agent-actions"),
    path("agents/", AgentList.as_view(), name="agent-list"),
    path("task/", TaskCreate.as_view(), name="task-create"),
    path("task/<uuid:id>/", TaskDetail.as_view(), name="task-detail"),
    path("task/<uuid:id>/restart/", TaskRestart.as_view(), name="task-restart"),
    path("task/<uuid:id>/definition/", TaskDefinition.as_view(), name="task-definition"),
    path("task/<uuid:id>/log/", LogPieceCreate.as_view(), name="task-log-pieces"),
    path("task/<uuid:id>/artifacts/", ArtifactList.as_view(), name="task-artifacts"),
    path("task/<uuid:id>/artifact/<path:path>", ArtifactDownload.as_view(), name="task-artifact"),
]
