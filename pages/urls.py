from django.urls import path, re_path

from pages import agents, auth, errors, process_list, processes, tasks

app_name = "pages"

# Ids are taken as text and parsed by the views: a malformed one gets a page saying so,
# instead of the API's JSON 404.
urlpatterns = [
    path("", process_list.process_list, name="processes"),
    path("processes/rows/", process_list.process_rows, name="process-rows"),
    path("login/", auth.login, name="login"),
    path("logout/", auth.logout, name="logout"),
    path("process/<str:process_id>/", processes.process_detail, name="process"),
    path("process/<str:process_id>/states/", processes.process_states, name="process-states"),
    path("process/<str:process_id>/stop/", processes.process_stop, name="process-stop"),
    path("process/<str:process_id>/retry/", processes.process_retry, name="process-retry"),
    path("task/<str:task_id>/", tasks.task_detail, name="task"),
    path("task/<str:task_id>/stop/", tasks.task_stop, name="task-stop"),
    path("task/<str:task_id>/restart/", tasks.task_restart, name="task-restart"),
    path("agents/", agents.agent_list, name="agents"),
    re_path(r"^(?P<path>.*)$", errors.not_found),
]
