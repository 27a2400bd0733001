"""开班审核 through the API (issue 19): the bureau of the class's district approves a class or
returns it with a reason, by the same service as its 开班审核 page."""
from ..extensions import db
from ..models.integration import SCOPE_BUREAU
from ..vouchers import class_review
from . import schemas, serializers
from .blueprint import bp
from .registry import endpoint
from .scope import bureau_class


@endpoint(bp, "POST", "/classes/{id}/review", scopes=(SCOPE_BUREAU,),
          summary="开班审核：通过（开放报名）或退回修改（须填原因）", body=schemas.ClassReviewIn,
          response=schemas.ClassOut, tag="classes", int_params=("id",))
def review_class(caller, body, id):
    training_class = bureau_class(caller, id)  # another region's class is 404
    class_review.review(db.session, training_class, caller.actor, approve=body.approve, reason=body.reason)
    return serializers.training_class(training_class,
                                  review_reason=class_review.last_return_reason(db.session, training_class))
