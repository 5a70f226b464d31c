"""Exercises: one module per chapter (``mmcourse.exercises.ch02``), built on ``core``."""
from mmcourse.exercises.core import Feedback, FunctionQuestion, Question, ValueQuestion, compare

__all__ = ["Feedback", "FunctionQuestion", "Question", "ValueQuestion", "compare"]
