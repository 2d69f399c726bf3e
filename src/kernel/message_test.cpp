#include "kernel/message.hpp"

#include <gtest/gtest.h>
#include <libmnl/libmnl.h>
#include <linux/if.h>
#include <linux/if_link.h>
#include <linux/neighbour.h>
#include <linux/nexthop.h>
#include <linux/rtnetlink.h>
#include <sys/socket.h>

#include <cerrno>
#include <cstring>

#include "kernel/monitor.hpp"

namespace tartan::kernel::nl {
namespace {

net::Ip4Net Net(const char* s) { return net::Ip4Net::Parse(s).value(); }
net::Ip4 Ip(const char* s) { return net::Ip4::Parse(s).value(); }
net::Mac MacOf(const char* s) { return net::Mac::Parse(s).value(); }

int Collect(const nlattr* attr, void* data) {
  static_cast<std::vector<const nlattr*>*>(data)->push_back(attr);
  return MNL_CB_OK;
}

// The first attribute of `type` right after the family header, or nullptr.
const nlattr* FindAttr(const nlmsghdr* nlh, size_t hdrlen, uint16_t type) {
  std::vector<const nlattr*> all;
  mnl_attr_parse(nlh, static_cast<unsigned>(hdrlen), Collect, &all);
  for (const nlattr* a : all) {
    if (mnl_attr_get_type(a) == type) return a;
  }
  return nullptr;
}

const nlattr* FindNested(const nlattr* nest, uint16_t type) {
  std::vector<const nlattr*> all;
  mnl_attr_parse_nested(nest, Collect, &all);
  for (const nlattr* a : all) {
    if (mnl_attr_get_type(a) == type) return a;
  }
  return nullptr;
}

Route WithTable(Route r, uint32_t table) {
  r.table = table;
  return r;
}
Route WithMetric(Route r, uint32_t metric) {
  r.metric = metric;
  return r;
}
Route WithProtocol(Route r, uint8_t protocol) {
  r.protocol = protocol;
  return r;
}

TEST(RouteMessage, RoundTripsEveryShapeTartanInstalls) {
  const Route cases[] = {
      Route::Via(Net("10.244.76.0/24"), Ip("192.0.2.2"), 2),
      Route::ViaOnlink(Net("10.244.1.0/24"), Ip("10.244.1.0"), 5),
      Route::Direct(Net("10.244.0.0/16"), 7),
      WithTable(Route::Via(Net("10.1.0.0/16"), Ip("192.0.2.9"), 3), 1000),
      WithMetric(Route::Via(Net("0.0.0.0/0"), Ip("192.0.2.254"), 2), 100),
      WithProtocol(Route::Via(Net("10.9.9.0/24"), Ip("192.0.2.1"), 2), kRouteProtocolBoot),
      Route::Blackhole(Net("10.244.7.0/24"), 1000000),
  };
  for (const Route& want : cases) {
    Request req = RouteRequest(RTM_NEWROUTE, NLM_F_CREATE | NLM_F_REPLACE, want);
    EXPECT_EQ(req.header()->nlmsg_type, RTM_NEWROUTE);
    EXPECT_EQ(req.header()->nlmsg_flags, NLM_F_REQUEST | NLM_F_CREATE | NLM_F_REPLACE);
    std::optional<Route> got = ParseRoute(req.header());
    ASSERT_TRUE(got.has_value()) << want.ToString();
    EXPECT_EQ(*got, want) << "sent " << want.ToString() << " read " << got->ToString();
  }
}

TEST(RouteMessage, HeaderCarriesTartanProtocolScopeAndOnlink) {
  Route r = Route::ViaOnlink(Net("10.244.1.0/24"), Ip("10.244.1.0"), 5);
  Request req = RouteRequest(RTM_NEWROUTE, NLM_F_CREATE | NLM_F_EXCL, r);
  const auto* rtm = static_cast<const rtmsg*>(mnl_nlmsg_get_payload(req.header()));
  EXPECT_EQ(rtm->rtm_family, AF_INET);
  EXPECT_EQ(rtm->rtm_dst_len, 24);
  EXPECT_EQ(rtm->rtm_protocol, 0x54);
  EXPECT_EQ(rtm->rtm_table, RT_TABLE_MAIN);
  EXPECT_EQ(rtm->rtm_scope, RT_SCOPE_UNIVERSE);
  EXPECT_EQ(rtm->rtm_type, RTN_UNICAST);
  EXPECT_EQ(rtm->rtm_flags & RTNH_F_ONLINK, RTNH_F_ONLINK);
  const nlattr* gw = FindAttr(req.header(), sizeof(rtmsg), RTA_GATEWAY);
  ASSERT_NE(gw, nullptr);
  const uint8_t want[] = {10, 244, 1, 0};  // network byte order on the wire
  EXPECT_EQ(std::memcmp(mnl_attr_get_payload(gw), want, 4), 0);
}

TEST(RouteMessage, DirectRouteHasLinkScopeAndNoGateway) {
  Request req = RouteRequest(RTM_NEWROUTE, 0, Route::Direct(Net("10.244.0.0/16"), 7));
  const auto* rtm = static_cast<const rtmsg*>(mnl_nlmsg_get_payload(req.header()));
  EXPECT_EQ(rtm->rtm_scope, RT_SCOPE_LINK);
  EXPECT_EQ(FindAttr(req.header(), sizeof(rtmsg), RTA_GATEWAY), nullptr);
}

TEST(RouteMessage, BlackholeRouteHasItsTypeAndNoGatewayOrLink) {
  const Route r = Route::Blackhole(Net("10.244.7.0/24"), 1000000);
  EXPECT_EQ(r.ToString(), "blackhole 10.244.7.0/24 metric 1000000");
  Request req = RouteRequest(RTM_NEWROUTE, NLM_F_CREATE | NLM_F_REPLACE, r);
  const auto* rtm = static_cast<const rtmsg*>(mnl_nlmsg_get_payload(req.header()));
  EXPECT_EQ(rtm->rtm_type, RTN_BLACKHOLE);
  EXPECT_EQ(rtm->rtm_scope, RT_SCOPE_UNIVERSE);
  EXPECT_EQ(rtm->rtm_protocol, kTartanRouteProtocol);
  EXPECT_EQ(FindAttr(req.header(), sizeof(rtmsg), RTA_GATEWAY), nullptr);
  EXPECT_EQ(FindAttr(req.header(), sizeof(rtmsg), RTA_OIF), nullptr);
  // A unicast route to the same destination is a different route.
  Route unicast = r;
  unicast.type = kRouteTypeUnicast;
  EXPECT_NE(unicast, r);
}

TEST(RouteMessage, DeleteUsesKernelWildcardsButKeepsProtocol) {
  Request req = RouteRequest(RTM_DELROUTE, 0, Route::Via(Net("10.244.3.0/24"), Ip("192.0.2.3"), 2));
  const auto* rtm = static_cast<const rtmsg*>(mnl_nlmsg_get_payload(req.header()));
  EXPECT_EQ(rtm->rtm_scope, RT_SCOPE_NOWHERE);
  EXPECT_EQ(rtm->rtm_type, RTN_UNSPEC);
  EXPECT_EQ(rtm->rtm_protocol, kTartanRouteProtocol);
}

TEST(RouteMessage, ThroughANexthopTheRouteNamesOnlyItsId) {
  const Route r = Route::ViaOnlink(Net("10.244.1.0/24"), Ip("10.244.1.0"), 5);
  Request req = RouteRequest(RTM_NEWROUTE, NLM_F_CREATE | NLM_F_EXCL, r, 0x0af40100);
  ASSERT_FALSE(req.overflowed());
  const auto* rtm = static_cast<const rtmsg*>(mnl_nlmsg_get_payload(req.header()));
  // The kernel refuses a route that names a nexthop id and a gateway, device or onlink flag.
  EXPECT_EQ(rtm->rtm_flags & RTNH_F_ONLINK, 0u);
  EXPECT_EQ(FindAttr(req.header(), sizeof(rtmsg), RTA_GATEWAY), nullptr);
  EXPECT_EQ(FindAttr(req.header(), sizeof(rtmsg), RTA_OIF), nullptr);
  const nlattr* id = FindAttr(req.header(), sizeof(rtmsg), RTA_NH_ID);
  ASSERT_NE(id, nullptr);
  EXPECT_EQ(mnl_attr_get_u32(id), 0x0af40100u);
  EXPECT_EQ(rtm->rtm_protocol, kTartanRouteProtocol);
}

TEST(RouteMessage, ParseGivesTheNexthopIdBesideTheGatewayTheKernelAdds) {
  // What the kernel reports with nexthop_compat_mode=1: the id and the nexthop's path.
  const Route r = Route::Via(Net("10.244.3.0/24"), Ip("192.0.2.3"), 2);
  Request req = RouteRequest(RTM_NEWROUTE, 0, r);
  req.PutU32(RTA_NH_ID, 77);
  uint32_t id = 0;
  std::optional<Route> got = ParseRoute(req.header(), &id);
  ASSERT_TRUE(got.has_value());
  EXPECT_EQ(*got, r);
  EXPECT_EQ(id, 77u);
  Request classic = RouteRequest(RTM_NEWROUTE, 0, r);
  id = 5;
  ASSERT_TRUE(ParseRoute(classic.header(), &id).has_value());
  EXPECT_EQ(id, 0u);
}

TEST(NexthopMessage, RoundTripsAGatewayNexthop) {
  Nexthop nh;
  nh.id = Ip("10.244.1.0").value();
  nh.gateway = Ip("10.244.1.0");
  nh.link_index = 5;
  nh.onlink = true;
  Request req = NexthopRequest(RTM_NEWNEXTHOP, NLM_F_CREATE | NLM_F_EXCL, nh);
  ASSERT_FALSE(req.overflowed());
  const auto* nhm = static_cast<const nhmsg*>(mnl_nlmsg_get_payload(req.header()));
  EXPECT_EQ(nhm->nh_family, AF_INET);
  EXPECT_EQ(nhm->nh_protocol, kTartanRouteProtocol);
  EXPECT_EQ(nhm->nh_flags & RTNH_F_ONLINK, static_cast<unsigned>(RTNH_F_ONLINK));
  std::optional<Nexthop> got = ParseNexthop(req.header());
  ASSERT_TRUE(got.has_value());
  EXPECT_EQ(*got, nh);
  EXPECT_EQ(got->ToString("flannel.1"), "id 183763200 via 10.244.1.0 dev flannel.1 onlink");
}

TEST(NexthopMessage, DeleteAndGetNameOnlyTheId) {
  Nexthop nh;
  nh.id = 42;
  nh.gateway = Ip("192.0.2.3");
  nh.link_index = 2;
  auto only_id = [](const Request& req) {
    EXPECT_EQ(FindAttr(req.header(), sizeof(nhmsg), NHA_GATEWAY), nullptr);
    EXPECT_EQ(FindAttr(req.header(), sizeof(nhmsg), NHA_OIF), nullptr);
    const nlattr* id = FindAttr(req.header(), sizeof(nhmsg), NHA_ID);
    ASSERT_NE(id, nullptr);
    EXPECT_EQ(mnl_attr_get_u32(id), 42u);
  };
  only_id(NexthopRequest(RTM_DELNEXTHOP, 0, nh));
  only_id(NexthopGet(42));
}

TEST(NexthopMessage, ParseSkipsOtherFamiliesAndMessagesWithoutAnId) {
  Nexthop nh;
  nh.id = 9;
  Request v6 = NexthopRequest(RTM_NEWNEXTHOP, 0, nh);
  static_cast<nhmsg*>(mnl_nlmsg_get_payload(v6.header()))->nh_family = AF_INET6;
  EXPECT_FALSE(ParseNexthop(v6.header()).has_value());
  nh.id = 0;
  Request no_id = NexthopRequest(RTM_NEWNEXTHOP, 0, nh);
  EXPECT_FALSE(ParseNexthop(no_id.header()).has_value());
}

TEST(NexthopMessage, AnEventSaysWhichNexthopWent) {
  Nexthop nh;
  nh.id = 7;
  nh.gateway = Ip("192.0.2.3");
  nh.link_index = 2;
  // The kernel's notification of a deletion describes the whole nexthop.
  Request del = NexthopRequest(RTM_NEWNEXTHOP, 0, nh);
  del.header()->nlmsg_type = RTM_DELNEXTHOP;
  std::optional<KernelEvent> ev = ParseEvent(del.header());
  ASSERT_TRUE(ev.has_value());
  EXPECT_EQ(ev->kind, KernelEvent::Kind::kNexthop);
  EXPECT_TRUE(ev->removed);
  const auto* got = std::get_if<Nexthop>(&ev->object);
  ASSERT_NE(got, nullptr);
  EXPECT_EQ(got->id, 7u);
  EXPECT_EQ(got->protocol, kTartanRouteProtocol);
}

TEST(RouteMessage, ParseSkipsWhatIsNotAnIpv4UnicastRoute) {
  struct Case {
    const char* name;
    void (*mutate)(rtmsg*);
  };
  const Case cases[] = {
      {"ipv6", [](rtmsg* m) { m->rtm_family = AF_INET6; }},
      {"local", [](rtmsg* m) { m->rtm_type = RTN_LOCAL; }},
      {"broadcast", [](rtmsg* m) { m->rtm_type = RTN_BROADCAST; }},
      {"cloned", [](rtmsg* m) { m->rtm_flags |= RTM_F_CLONED; }},
      {"prefix>32", [](rtmsg* m) { m->rtm_dst_len = 33; }},
  };
  for (const Case& c : cases) {
    Request req = RouteRequest(RTM_NEWROUTE, 0, Route::Via(Net("10.0.0.0/8"), Ip("192.0.2.1"), 1));
    c.mutate(static_cast<rtmsg*>(mnl_nlmsg_get_payload(req.header())));
    EXPECT_FALSE(ParseRoute(req.header()).has_value()) << c.name;
  }
  nlmsghdr shortmsg{};
  shortmsg.nlmsg_len = NLMSG_HDRLEN + 2;
  shortmsg.nlmsg_type = RTM_NEWROUTE;
  EXPECT_FALSE(ParseRoute(&shortmsg).has_value());
}

// An operator's blackhole (or unreachable, prohibit, throw) route holds its destination as a
// unicast route does: the reconciler must see it to leave it alone.
TEST(RouteMessage, RoutesOfOtherTypesThatHoldADestinationAreRead) {
  for (uint8_t type :
       {kRouteTypeBlackhole, kRouteTypeUnreachable, kRouteTypeProhibit, kRouteTypeThrow}) {
    Route r;
    r.dst = Net("10.244.3.0/24");
    r.protocol = kRouteProtocolBoot;
    r.type = type;
    Request req = RouteRequest(RTM_NEWROUTE, 0, r);
    auto got = ParseRoute(req.header());
    ASSERT_TRUE(got.has_value()) << int{type};
    EXPECT_EQ(*got, r);
  }
  Route blackhole;
  blackhole.dst = Net("10.244.3.0/24");
  blackhole.type = kRouteTypeBlackhole;
  blackhole.protocol = kRouteProtocolBoot;
  EXPECT_EQ(blackhole.ToString(), "blackhole 10.244.3.0/24 proto boot");
}

TEST(RouteMessage, LinkDownFlagDoesNotChangeIdentity) {
  Route r = Route::Via(Net("10.244.3.0/24"), Ip("192.0.2.3"), 2);
  Request req = RouteRequest(RTM_NEWROUTE, 0, r);
  static_cast<rtmsg*>(mnl_nlmsg_get_payload(req.header()))->rtm_flags |= RTNH_F_LINKDOWN;
  auto got = ParseRoute(req.header());
  ASSERT_TRUE(got.has_value());
  EXPECT_EQ(*got, r);
}

TEST(RouteMessage, LookupRequestAsksForOneHost) {
  Request req = RouteGet(Ip("198.51.100.7"));
  const auto* rtm = static_cast<const rtmsg*>(mnl_nlmsg_get_payload(req.header()));
  EXPECT_EQ(req.header()->nlmsg_type, RTM_GETROUTE);
  EXPECT_EQ(req.header()->nlmsg_flags & NLM_F_DUMP, 0);
  EXPECT_EQ(rtm->rtm_dst_len, 32);
  // The kernel's answer has the same layout as a route; ParseRouteLookup reads it.
  Request answer =
      RouteRequest(RTM_NEWROUTE, 0, Route::Via(Net("198.51.100.7/32"), Ip("192.0.2.1"), 4));
  auto got = ParseRouteLookup(answer.header());
  ASSERT_TRUE(got.has_value());
  EXPECT_EQ(got->gateway, Ip("192.0.2.1"));
  EXPECT_EQ(got->link_index, 4);
}

TEST(LinkMessage, VxlanCreateRoundTrips) {
  Link want;
  want.name = "flannel.1";
  want.mtu = 1450;
  want.mac = MacOf("66:90:db:29:5b:c3");
  want.kind = "vxlan";
  want.vxlan = VxlanAttrs{1, Ip("192.0.2.1"), 2, 8472, false, true};
  Request req = LinkCreate(want);
  EXPECT_EQ(req.header()->nlmsg_flags, NLM_F_REQUEST | NLM_F_CREATE | NLM_F_EXCL);
  auto got = ParseLink(req.header());
  ASSERT_TRUE(got.has_value());
  EXPECT_EQ(*got, want);
}

TEST(LinkMessage, VxlanPortIsBigEndianAndLearningExplicit) {
  Link spec;
  spec.name = "flannel.7";
  spec.vxlan = VxlanAttrs{7, std::nullopt, 0, 4789, false, false};
  Request req = LinkCreate(spec);
  const nlattr* info = FindAttr(req.header(), sizeof(ifinfomsg), IFLA_LINKINFO);
  ASSERT_NE(info, nullptr);
  const nlattr* data = FindNested(info, IFLA_INFO_DATA);
  ASSERT_NE(data, nullptr);
  const nlattr* port = FindNested(data, IFLA_VXLAN_PORT);
  const nlattr* learning = FindNested(data, IFLA_VXLAN_LEARNING);
  const nlattr* local = FindNested(data, IFLA_VXLAN_LOCAL);
  ASSERT_NE(port, nullptr);
  const uint8_t* p = static_cast<const uint8_t*>(mnl_attr_get_payload(port));
  EXPECT_EQ(p[0], 4789 >> 8);
  EXPECT_EQ(p[1], 4789 & 0xff);
  // Absent, the kernel would default to learning on; flannel wants it off.
  ASSERT_NE(learning, nullptr);
  EXPECT_EQ(mnl_attr_get_u8(learning), 0);
  EXPECT_EQ(local, nullptr);
}

TEST(LinkMessage, ChangeOnlyTouchesWhatIsAsked) {
  Request up = LinkChange(3, true, std::nullopt, std::nullopt);
  const auto* ifi = static_cast<const ifinfomsg*>(mnl_nlmsg_get_payload(up.header()));
  EXPECT_EQ(ifi->ifi_index, 3);
  EXPECT_EQ(ifi->ifi_change, unsigned{IFF_UP});
  EXPECT_EQ(ifi->ifi_flags, unsigned{IFF_UP});
  EXPECT_EQ(FindAttr(up.header(), sizeof(ifinfomsg), IFLA_MTU), nullptr);

  Request mtu = LinkChange(3, std::nullopt, 1450, std::nullopt);
  ifi = static_cast<const ifinfomsg*>(mnl_nlmsg_get_payload(mtu.header()));
  EXPECT_EQ(ifi->ifi_change, 0u);
  const nlattr* m = FindAttr(mtu.header(), sizeof(ifinfomsg), IFLA_MTU);
  ASSERT_NE(m, nullptr);
  EXPECT_EQ(mnl_attr_get_u32(m), 1450u);
}

TEST(RequestBuffer, OverflowIsRecordedNotWritten) {
  Request req(RTM_NEWLINK, 0);
  req.PutHeader<ifinfomsg>();
  EXPECT_FALSE(req.overflowed());
  std::string big(Request::kCapacity, 'x');
  req.PutString(IFLA_IFNAME, big);
  EXPECT_TRUE(req.overflowed());
  EXPECT_LE(req.size(), Request::kCapacity);
  EXPECT_EQ(FindAttr(req.header(), sizeof(ifinfomsg), IFLA_IFNAME), nullptr);
}

TEST(AddressMessage, RoundTripsAndSetsLocal) {
  const Address cases[] = {
      {Net("10.244.38.0/32"), 4},
      {Net("192.0.2.1/24"), 2},
  };
  for (const Address& want : cases) {
    Request req = AddressRequest(RTM_NEWADDR, NLM_F_CREATE | NLM_F_EXCL, want);
    EXPECT_NE(FindAttr(req.header(), sizeof(ifaddrmsg), IFA_LOCAL), nullptr);
    auto got = ParseAddress(req.header());
    ASSERT_TRUE(got.has_value());
    EXPECT_EQ(*got, want);
  }
}

TEST(NeighbourMessage, RoundTripsAndIsNotAnFdbEntry) {
  Neighbour want{Ip("10.244.1.0"), MacOf("42:08:00:00:00:01"), 5, kNudPermanent};
  Request req = NeighbourRequest(RTM_NEWNEIGH, NLM_F_CREATE | NLM_F_REPLACE, want);
  auto got = ParseNeighbour(req.header());
  ASSERT_TRUE(got.has_value());
  EXPECT_EQ(*got, want);
  EXPECT_TRUE(got->permanent());
  EXPECT_FALSE(ParseFdb(req.header()).has_value());
}

TEST(NeighbourMessage, DeleteCarriesNoLinkLayerAddress) {
  Neighbour n{Ip("10.244.1.0"), MacOf("42:08:00:00:00:01"), 5, kNudPermanent};
  Request req = NeighbourRequest(RTM_DELNEIGH, 0, n);
  EXPECT_EQ(FindAttr(req.header(), sizeof(ndmsg), NDA_LLADDR), nullptr);
  EXPECT_NE(FindAttr(req.header(), sizeof(ndmsg), NDA_DST), nullptr);
}

TEST(FdbMessage, RoundTripsAsSelfPermanentBridgeEntry) {
  FdbEntry want{MacOf("42:08:00:00:00:01"), Ip("192.0.2.2"), 5, true, true};
  Request req = FdbRequest(RTM_NEWNEIGH, NLM_F_CREATE | NLM_F_APPEND, want);
  const auto* ndm = static_cast<const ndmsg*>(mnl_nlmsg_get_payload(req.header()));
  EXPECT_EQ(ndm->ndm_family, AF_BRIDGE);
  EXPECT_EQ(ndm->ndm_flags, NTF_SELF);
  EXPECT_EQ(ndm->ndm_state, NUD_PERMANENT);
  EXPECT_EQ(req.header()->nlmsg_flags, NLM_F_REQUEST | NLM_F_CREATE | NLM_F_APPEND);
  auto got = ParseFdb(req.header());
  ASSERT_TRUE(got.has_value());
  EXPECT_EQ(*got, want);
  EXPECT_FALSE(ParseNeighbour(req.header()).has_value());
}

// An NLMSG_ERROR message as the kernel writes it, with an extended-ack message.
struct ErrorMessage {
  alignas(4) char buf[512] = {};
  nlmsghdr* nlh = nullptr;

  ErrorMessage(int error, bool capped, const char* text, const Request& echoed) {
    nlh = mnl_nlmsg_put_header(buf);
    nlh->nlmsg_type = NLMSG_ERROR;
    auto* err = static_cast<nlmsgerr*>(mnl_nlmsg_put_extra_header(nlh, sizeof(nlmsgerr)));
    err->error = error;
    err->msg = *echoed.header();
    if (!capped) {
      // The echoed request's payload follows its header.
      size_t payload = echoed.size() - NLMSG_HDRLEN;
      void* dst = mnl_nlmsg_put_extra_header(nlh, NLMSG_ALIGN(payload));
      std::memcpy(dst, static_cast<const char*>(echoed.data()) + NLMSG_HDRLEN, payload);
    } else {
      nlh->nlmsg_flags |= NLM_F_CAPPED;
    }
    if (text != nullptr) {
      nlh->nlmsg_flags |= NLM_F_ACK_TLVS;
      mnl_attr_put_strz(nlh, NLMSGERR_ATTR_MSG, text);
    }
  }
};

TEST(NetlinkAck, ReadsErrnoAndKernelMessage) {
  Request route =
      RouteRequest(RTM_NEWROUTE, 0, Route::Via(Net("10.244.3.0/24"), Ip("192.0.2.3"), 2));
  struct Case {
    int error;
    bool capped;
    const char* text;
    const char* want_text;
  };
  const Case cases[] = {
      {0, true, nullptr, ""},
      {-ENETUNREACH, true, "Nexthop has invalid gateway", "Nexthop has invalid gateway"},
      {-ENETUNREACH, false, "Nexthop has invalid gateway", "Nexthop has invalid gateway"},
      {-EEXIST, false, nullptr, ""},
  };
  for (const Case& c : cases) {
    ErrorMessage m(c.error, c.capped, c.text, route);
    auto ack = ParseAck(m.nlh);
    ASSERT_TRUE(ack.has_value());
    EXPECT_EQ(ack->error, c.error);
    EXPECT_EQ(ack->message, c.want_text) << "capped=" << c.capped;
  }
  nlmsghdr not_error{};
  not_error.nlmsg_len = NLMSG_HDRLEN;
  not_error.nlmsg_type = RTM_NEWROUTE;
  EXPECT_FALSE(ParseAck(&not_error).has_value());
}

TEST(NetlinkAck, ErrnoErrorNamesTheAttemptAndMapsCodes) {
  struct Case {
    int err;
    Error::Code code;
  };
  const Case cases[] = {
      {EEXIST, Error::Code::kAlreadyExists},
      {-ESRCH, Error::Code::kNotFound},
      {ENODEV, Error::Code::kNotFound},
      {EPERM, Error::Code::kPermissionDenied},
      {ENETUNREACH, Error::Code::kFailedPrecondition},
      {EINVAL, Error::Code::kInvalidArgument},
      {EBUSY, Error::Code::kUnavailable},
      {EIO, Error::Code::kInternal},
  };
  for (const Case& c : cases) EXPECT_EQ(ErrnoError(c.err, "x").code, c.code) << c.err;

  EXPECT_EQ(ErrnoError(-ENETUNREACH, "adding route 10.244.3.0/24 via 192.0.2.3 dev eth0").message,
            "adding route 10.244.3.0/24 via 192.0.2.3 dev eth0: Network is unreachable");
  EXPECT_EQ(ErrnoError(ENETUNREACH, "adding route", "Nexthop has invalid gateway").message,
            "adding route: Network is unreachable (Nexthop has invalid gateway)");
}

TEST(NetlinkEvent, ClassifiesNotifications) {
  Route r = Route::Via(Net("10.244.3.0/24"), Ip("192.0.2.3"), 2);
  Request route = RouteRequest(RTM_NEWROUTE, 0, r);
  route.header()->nlmsg_type = RTM_DELROUTE;
  auto ev = ParseEvent(route.header());
  ASSERT_TRUE(ev.has_value());
  EXPECT_EQ(ev->kind, KernelEvent::Kind::kRoute);
  EXPECT_TRUE(ev->removed);
  EXPECT_EQ(std::get<Route>(ev->object), r);

  FdbEntry f{MacOf("42:08:00:00:00:01"), Ip("192.0.2.2"), 5, true, true};
  Request fdb = FdbRequest(RTM_NEWNEIGH, 0, f);
  ev = ParseEvent(fdb.header());
  ASSERT_TRUE(ev.has_value());
  EXPECT_EQ(ev->kind, KernelEvent::Kind::kFdb);
  EXPECT_FALSE(ev->removed);
  EXPECT_EQ(std::get<FdbEntry>(ev->object), f);

  Neighbour n{Ip("10.244.1.0"), MacOf("42:08:00:00:00:01"), 5, kNudPermanent};
  Request neigh = NeighbourRequest(RTM_NEWNEIGH, 0, n);
  ev = ParseEvent(neigh.header());
  ASSERT_TRUE(ev.has_value());
  EXPECT_EQ(ev->kind, KernelEvent::Kind::kNeighbour);

  Link l;
  l.name = "flannel.1";
  l.kind = "vxlan";
  l.vxlan = VxlanAttrs{};
  Request link = LinkCreate(l);
  link.header()->nlmsg_type = RTM_DELLINK;
  ev = ParseEvent(link.header());
  ASSERT_TRUE(ev.has_value());
  EXPECT_EQ(ev->kind, KernelEvent::Kind::kLink);
  EXPECT_TRUE(ev->removed);
  EXPECT_EQ(std::get<Link>(ev->object).name, "flannel.1");

  Request other = RouteDump();
  other.header()->nlmsg_type = RTM_NEWRULE;
  EXPECT_FALSE(ParseEvent(other.header()).has_value());
}

}  // namespace
}  // namespace tartan::kernel::nl
