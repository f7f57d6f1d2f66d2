from django.apps import AppConfig


class ProcessConfig(AppConfig):
    name = "process"
    verbose_name = "Processes"

    def ready(self):
        # The reactions of worker activities to task changes (ponos cannot import process).
        from ponos.states import on_task_restarted, on_tasks_finished
        from process.activities import error_started_activities, requeue_restarted_chunk

        on_tasks_finished(error_started_activities)
        on_task_restarted(requeue_restarted_chunk)
