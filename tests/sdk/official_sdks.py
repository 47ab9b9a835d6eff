"""Drives facestream with the clouds' own Python SDKs (and China Telecom's manual sample), only
the endpoint changed. Prints one JSON object of what each returned; tests/api/sdks.rs checks it.

usage: official_sdks.py PORT MEDIA_DIR NO_FACE_IMAGE
"""
import base64
import hashlib
import json
import sys
import time
import traceback

import requests

PORT = int(sys.argv[1])
MEDIA = sys.argv[2]
BASE = f"http://127.0.0.1:{PORT}"
OBAMA1 = f"{MEDIA}/gallery/Barack_Obama/face_recognition_obama_small.jpg"
OBAMA2 = f"{MEDIA}/gallery/Barack_Obama/face_recognition_knn_test_obama1.jpg"
BIDEN = f"{MEDIA}/gallery/Joe_Biden/face_recognition_biden2.jpg"
out = {}


def b64(path, lines=False):
    data = open(path, "rb").read()
    # The CTyun manual's sample uses encodebytes: line breaks every 76 characters.
    return (base64.encodebytes(data) if lines else base64.b64encode(data)).decode()


def step(name, fn):
    try:
        out[name] = fn()
    except Exception as e:  # report, don't stop: the Rust test names what failed
        out[name] = {"exception": f"{type(e).__name__}: {e}", "trace": traceback.format_exc()[-800:]}


def huawei():
    from huaweicloudsdkcore.auth.credentials import BasicCredentials
    from huaweicloudsdkfrs.v2 import (FrsClient, DetectFaceByBase64Request, FaceDetectBase64Req,
                                      CreateFaceSetRequest, CreateFaceSetReq, AddFacesByBase64Request,
                                      AddFacesBase64Req, SearchFaceByBase64Request, FaceSearchBase64Req,
                                      CompareFaceByBase64Request, FaceCompareBase64Req,
                                      DeleteFaceSetRequest)
    client = (FrsClient.new_builder()
              .with_credentials(BasicCredentials("AK-huawei-sdk-client", "SK-huawei-sdk-secret", "p1"))
              .with_endpoint(BASE).build())
    r = {}
    det = client.detect_face_by_base64(DetectFaceByBase64Request(
        body=FaceDetectBase64Req(image_base64=b64(OBAMA1), attributes="2")))
    r["detect_faces"] = len(det.faces)
    client.create_face_set(CreateFaceSetRequest(body=CreateFaceSetReq(face_set_name="sdkset")))
    add = client.add_faces_by_base64(AddFacesByBase64Request(
        face_set_name="sdkset", body=AddFacesBase64Req(image_base64=b64(OBAMA1), external_image_id="obama")))
    client.add_faces_by_base64(AddFacesByBase64Request(
        face_set_name="sdkset", body=AddFacesBase64Req(image_base64=b64(BIDEN), external_image_id="biden")))
    r["added"] = len(add.faces)
    found = client.search_face_by_base64(SearchFaceByBase64Request(
        face_set_name="sdkset", body=FaceSearchBase64Req(image_base64=b64(OBAMA2), top_n=2)))
    r["search_top"] = found.faces[0].external_image_id
    cmp = client.compare_face_by_base64(CompareFaceByBase64Request(
        body=FaceCompareBase64Req(image1_base64=b64(OBAMA1), image2_base64=b64(OBAMA2))))
    r["compare_similarity"] = cmp.similarity
    client.delete_face_set(DeleteFaceSetRequest(face_set_name="sdkset"))
    return r


def baidu():
    from aip import AipFace
    from aip.base import AipBase
    # The SDK's URLs are class attributes (name-mangled): point them at facestream.
    for cls in (AipBase, AipFace):
        for k, v in list(vars(cls).items()):
            if isinstance(v, str) and v.startswith("https://aip.baidubce.com"):
                setattr(cls, k, v.replace("https://aip.baidubce.com", BASE))
    client = AipFace("app", "baidu-sdk-api-key-0001", "baidu-sdk-secret-key")
    r = {}
    r["group_add"] = client.groupAdd("sdkgroup")["error_code"]
    r["user_add"] = client.addUser(b64(OBAMA1), "BASE64", "sdkgroup", "obama", {"user_info": "Barack"})["error_code"]
    client.addUser(b64(BIDEN), "BASE64", "sdkgroup", "biden")
    s = client.search(b64(OBAMA2), "BASE64", "sdkgroup")
    r["search_error"] = s["error_code"]
    r["search_top"] = s["result"]["user_list"][0]["user_id"]
    d = client.detect(b64(OBAMA1), "BASE64", {"face_field": "age,gender"})
    r["detect_faces"] = d["result"]["face_num"]
    return r


def tencent():
    from tencentcloud.common import credential
    from tencentcloud.common.profile.client_profile import ClientProfile
    from tencentcloud.common.profile.http_profile import HttpProfile
    from tencentcloud.iai.v20200303 import iai_client, models
    hp = HttpProfile()
    hp.endpoint = f"127.0.0.1:{PORT}"
    hp.scheme = "http"
    cp = ClientProfile()
    cp.httpProfile = hp
    client = iai_client.IaiClient(credential.Credential("AKID-tencent-sdk-client", "tencent-sdk-secret"), "ap-guangzhou", cp)
    r = {}
    req = models.DetectFaceRequest()
    req.Image = b64(OBAMA1)
    r["detect_faces"] = len(client.DetectFace(req).FaceInfos)
    req = models.CreateGroupRequest()
    req.GroupId, req.GroupName = "sdkgroup", "SDK group"
    client.CreateGroup(req)
    for pid, path in (("obama", OBAMA1), ("biden", BIDEN)):
        req = models.CreatePersonRequest()
        req.GroupId, req.PersonId, req.PersonName, req.Image = "sdkgroup", pid, pid.title(), b64(path)
        client.CreatePerson(req)
    req = models.SearchFacesRequest()
    req.GroupIds, req.Image, req.MaxPersonNum = ["sdkgroup"], b64(OBAMA2), 2
    res = client.SearchFaces(req)
    r["search_top"] = res.Results[0].Candidates[0].PersonId
    req = models.CompareFaceRequest()
    req.ImageA, req.ImageB = b64(OBAMA1), b64(BIDEN)
    r["compare_score"] = client.CompareFace(req).Score
    return r


def ctyun():
    # The manual's own Python sample, with its URL pointed at facestream.
    app_key, app_secret = "ctyun-app-key-00001", "ctyun-app-secret"

    def md5(key):
        h = hashlib.md5()
        h.update(key.encode("utf-8"))
        return h.hexdigest()

    def call(path, params):
        time_stamp = str(int(round(time.time() * 1000)))
        headers = {
            "content-type": "application/json",
            "Sign": md5(app_key + app_secret + time_stamp + path + json.dumps(params)),
            "Timestamp": time_stamp,
            "AppKey": app_key,
        }
        return requests.post(BASE + path, data=json.dumps(params), headers=headers).json()

    svc = "/v1/aiop/api/26nqz05m44"
    r = {}
    r["detect"] = call(f"{svc}/face/PERSON/person/detectFaceFromBase64", {"imageContent": b64(OBAMA1, True)})
    r["age_gender"] = call(f"{svc}/face/PERSON/person/detectAgeGenderFromBase64", {"imageContent": b64(OBAMA1, True)})
    r["compare_same"] = call(f"{svc}/face/compare/PERSON/person/compareFromBase64",
                             {"img1Base64": b64(OBAMA1, True), "img2Base64": b64(OBAMA2, True)})
    r["compare_other"] = call(f"{svc}/face/compare/PERSON/person/compareFromBase64",
                              {"img1Base64": b64(OBAMA1, True), "img2Base64": b64(BIDEN, True)})
    r["fas"] = call(f"{svc}/face-fas-action/person/detectFasFromBase64", {"imageContent": b64(OBAMA1, True)})
    r["mask"] = call(f"{svc}/face-mask/person/detectMaskFromBase64", {"imageContent": b64(OBAMA1, True)})
    r["empty"] = call(f"{svc}/face/PERSON/person/detectFaceFromBase64", {"imageContent": ""})
    r["not_image"] = call(f"{svc}/face/PERSON/person/detectFaceFromBase64", {"imageContent": base64.b64encode(b"plain text").decode()})
    r["no_face"] = call(f"{svc}/face/PERSON/person/detectFaceFromBase64", {"imageContent": b64(NOFACE, True)})
    big = base64.b64encode(b"\xff" * (3 * 1024 * 1024)).decode()
    r["too_big"] = call(f"{svc}/face/PERSON/person/detectFaceFromBase64", {"imageContent": big})
    # A stale timestamp and a wrong secret are refused.
    stale = str(int(round(time.time() * 1000)) - 3_600_000)
    params = {"imageContent": b64(OBAMA1)}
    path = f"{svc}/face/PERSON/person/detectFaceFromBase64"
    r["stale"] = requests.post(BASE + path, data=json.dumps(params), headers={
        "content-type": "application/json", "Timestamp": stale, "AppKey": app_key,
        "Sign": md5(app_key + app_secret + stale + path + json.dumps(params))}).json()
    now = str(int(round(time.time() * 1000)))
    headers = {"content-type": "application/json", "Timestamp": now, "AppKey": app_key,
               "Sign": md5(app_key + "wrong" + now + path + json.dumps(params))}
    r["bad_sign"] = requests.post(BASE + path, data=json.dumps(params), headers=headers).json()
    # The same signed request twice: the second is a replay.
    headers["Sign"] = md5(app_key + app_secret + now + path + json.dumps(params))
    first = requests.post(BASE + path, data=json.dumps(params), headers=headers).json()
    r["replay"] = [first["code"], requests.post(BASE + path, data=json.dumps(params), headers=headers).json()]
    return r


NOFACE = sys.argv[3]
step("huawei", huawei)
step("baidu", baidu)
step("tencent", tencent)
step("ctyun", ctyun)
print(json.dumps(out))
