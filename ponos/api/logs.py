from drf_spectacular.utils import extend_schema
from rest_framework import generics, status
from rest_framework.exceptions import PermissionDenied
from rest_framework.response import Response

from ponos.api.access import calling_agent, get_task
from ponos.logs import declare_piece
from ponos.serializers.logs import LogPieceSerializer


class LogPieceCreate(generics.GenericAPIView):
    """The holding agent sends the next bytes of a running task's log: the answer holds a
    signed URL taking exactly those bytes. Nothing to send, no call."""

    operation_ids = {"post": "CreateLogPiece"}
    allow_agents = True
    serializer_class = LogPieceSerializer

    @extend_schema(responses={201: LogPieceSerializer})
    def post(self, request, id):
        task = get_task(request, id)
        if calling_agent(request) is None:
            raise PermissionDenied("Only the agent holding the task sends its log.")
        serializer = self.get_serializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        offset, size = serializer.validated_data["offset"], serializer.validated_data["size"]
        url = declare_piece(task, offset, size)
        body = {"offset": offset, "size": size, "s3_put_url": url}
        return Response(LogPieceSerializer(body).data, status=status.HTTP_201_CREATED)
