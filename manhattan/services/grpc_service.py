"""The ``manhattan.v1.Social`` gRPC servicer: protobuf in, ``Social`` calls, protobuf out.

Every call carries the service's API token (``authorization: Bearer <token>``): the
service holds the tenant's storage token, so an unauthenticated caller could otherwise
post, delete and read as anyone. A missing or wrong token is ``UNAUTHENTICATED`` and
reaches nothing behind it.
"""

from __future__ import annotations

import functools
import hmac

import grpc

from manhattan.errors import Unauthenticated
from manhattan.rpc.auth import bearer_token
from manhattan.rpc.servicers import Handler, rpc_errors
from manhattan.proto.v1 import social_pb2
from manhattan.services.types import SocialUser, Tweet
from manhattan.services.social import Social


def tweet_to_proto(tweet: Tweet) -> social_pb2.Tweet:
    return social_pb2.Tweet(id=tweet.id, author=tweet.author, text=tweet.text,
                            reply_to=tweet.reply_to, created_at_ms=tweet.created_at_ms)


def user_to_proto(user: SocialUser) -> social_pb2.UserResponse:
    return social_pb2.UserResponse(name=user.name, created_at_ms=user.created_at_ms,
                                   followers=user.followers, following=user.following,
                                   celebrity=user.celebrity, tweets=user.tweets)


def social_call(method: Handler) -> Handler:
    """``rpc_errors``, after checking the caller's API token."""

    @functools.wraps(method)
    async def checked(self: "SocialServicer", request, context: grpc.aio.ServicerContext):
        self.authenticate(context.invocation_metadata())
        return await method(self, request, context)

    return rpc_errors(checked)


class SocialServicer:
    """Every method checks the API token, validates through ``Social`` and maps errors
    via ``rpc_errors``."""

    def __init__(self, social: Social, api_token: str) -> None:
        if not api_token:
            raise ValueError("the social service needs an API token")
        self.social = social
        self._api_token = api_token.encode()

    def authenticate(self, metadata) -> None:
        """Unauthenticated unless the call carries the service's API token."""
        given = bearer_token(metadata)
        if not given:
            raise Unauthenticated("missing social API token (metadata 'authorization: "
                                  "Bearer <token>'; it is in social.toml as api_token)")
        if not hmac.compare_digest(given.encode(), self._api_token):
            raise Unauthenticated("wrong social API token")

    @social_call
    async def CreateUser(self, request, context: grpc.aio.ServicerContext):
        return user_to_proto(await self.social.create_user(request.name))

    @social_call
    async def GetUser(self, request, context: grpc.aio.ServicerContext):
        return user_to_proto(await self.social.get_user(request.name))

    @social_call
    async def PostTweet(self, request, context: grpc.aio.ServicerContext):
        tweet = await self.social.post(request.author, request.text, request.reply_to,
                                       request.id)
        return social_pb2.TweetResponse(tweet=tweet_to_proto(tweet))

    @social_call
    async def GetTweet(self, request, context: grpc.aio.ServicerContext):
        return social_pb2.TweetResponse(tweet=tweet_to_proto(
            await self.social.get_tweet(request.id)))

    @social_call
    async def DeleteTweet(self, request, context: grpc.aio.ServicerContext):
        await self.social.delete_tweet(request.id)
        return social_pb2.DeleteTweetResponse()

    @social_call
    async def Follow(self, request, context: grpc.aio.ServicerContext):
        return social_pb2.FollowResponse(
            changed=await self.social.follow(request.follower, request.followee))

    @social_call
    async def Unfollow(self, request, context: grpc.aio.ServicerContext):
        return social_pb2.FollowResponse(
            changed=await self.social.unfollow(request.follower, request.followee))

    @social_call
    async def HomeTimeline(self, request, context: grpc.aio.ServicerContext):
        page = await self.social.home_timeline(request.user, limit=request.limit,
                                               cursor=request.cursor)
        status = social_pb2.REBUILDING if page.rebuilding else social_pb2.READY
        return social_pb2.TimelineResponse(tweets=[tweet_to_proto(t) for t in page.tweets],
                                           next_cursor=page.cursor or b"", status=status)

    @social_call
    async def UserTimeline(self, request, context: grpc.aio.ServicerContext):
        tweets, cursor = await self.social.user_timeline(request.user, limit=request.limit,
                                                         cursor=request.cursor)
        return social_pb2.TimelineResponse(tweets=[tweet_to_proto(t) for t in tweets],
                                           next_cursor=cursor, status=social_pb2.READY)

    async def _users(self, direction: str, request):
        page, total = await self.social.user_list(direction, request.user, limit=request.limit,
                                                  cursor=request.cursor)
        return social_pb2.UserListResponse(users=page.users, next_cursor=page.cursor or b"",
                                           total=total)

    @social_call
    async def Followers(self, request, context: grpc.aio.ServicerContext):
        return await self._users("followers", request)

    @social_call
    async def Following(self, request, context: grpc.aio.ServicerContext):
        return await self._users("following", request)

    @social_call
    async def NextId(self, request, context: grpc.aio.ServicerContext):
        return social_pb2.NextIdResponse(ids=await self.social.next_ids(request.count))

    @social_call
    async def Stats(self, request, context: grpc.aio.ServicerContext):
        s = await self.social.stats()
        return social_pb2.StatsResponse(
            fanout_pending=s.fanout_pending, fanout_lag_ms=s.fanout_lag_ms,
            deliveries=s.deliveries, jobs_done=s.jobs_done,
            celebrity_threshold=s.celebrity_threshold, worker=s.worker,
            datacenter=s.datacenter, ids_issued=s.ids_issued,
            clock_backward_errors=s.clock_backward_errors, fanout_paused=s.fanout_paused)

    @social_call
    async def SetFanout(self, request, context: grpc.aio.ServicerContext):
        self.social.worker.set_paused(request.paused)
        return social_pb2.SetFanoutResponse(paused=self.social.worker.paused)
